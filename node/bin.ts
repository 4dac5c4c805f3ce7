#!/usr/bin/env node
console.log("hi from", process.version)
