// `node --import eddy-sdk/src/register.mjs`: resolve `eddy-sdk` from anywhere.
import { register } from 'node:module';

register('./node-hooks.mjs', import.meta.url);
