// `npm run dev:token -- --user alice --role admin`: prints a management JWT for local development, signed with
// the local secret in .dev.vars (the same one `npm start` uses).

import { signDevJwt } from '../src/auth/jwt';
import { parseConfig } from '../src/config';
import { ensureDevVars, workerVars } from './local';

const args = process.argv.slice(2);
const option = (name: string) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
};
const user = option('user') ?? 'alice';
const role = option('role') ?? 'member';
if (role !== 'admin' && role !== 'member') {
  console.error('--role must be admin or member');
  process.exit(2);
}
const config = parseConfig(workerVars(undefined, ensureDevVars()));
const { token } = await signDevJwt(config.auth, { subject: user, role, name: user });
console.log(token);
