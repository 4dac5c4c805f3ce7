/** placeholder: being written (issue 7/9); replaced by the real command module */
export async function cmdGc (_args: string[]): Promise<number> { throw new Error('not implemented yet') }
export async function cmdPin (_args: string[]): Promise<number> { throw new Error('not implemented yet') }
export async function cmdUnpin (_args: string[]): Promise<number> { throw new Error('not implemented yet') }
export async function cmdPins (_args: string[]): Promise<number> { throw new Error('not implemented yet') }
