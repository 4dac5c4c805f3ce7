/** placeholder: being written (issue 7/9); replaced by the real command module */
export async function cmdWatch (_args: string[]): Promise<number> { throw new Error('not implemented yet') }
