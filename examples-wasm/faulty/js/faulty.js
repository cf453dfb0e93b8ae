// A map over raw bytes that misbehaves on demand, for failure tests: the
// JavaScript twin of ../src/lib.rs. Config `{"mode": "...", "needle": "..."}`:
//
// - `identity` (default): passes records through;
// - `panic-on`: throws `Error("faulty guest: found <needle>")` on a record
//   containing `needle`, identity otherwise;
// - `type-error-on`: on a record containing `needle`, reads a property of
//   undefined, so the engine throws its own TypeError;
// - `loop`: never returns from the first record;
// - `loop-on`: never returns from a record containing `needle`;
// - `hog`: allocates and touches 1 GiB on the first record;
// - `error`: fails the first record with `faulty guest: refused record`.
//
// (`trap-randomly` of the Rust guest is left out: a JS guest has no random
// source that differs per instance without WASI.)
import { map, log, encodeUtf8 } from 'eddy-sdk';

const MODES = {
  identity: 'Identity',
  'panic-on': 'PanicOn',
  'type-error-on': 'TypeErrorOn',
  loop: 'Loop',
  'loop-on': 'LoopOn',
  hog: 'Hog',
  error: 'Error',
};

function contains(value, needle) {
  outer: for (let i = 0; i + needle.length <= value.length; i++) {
    for (let j = 0; j < needle.length; j++) if (value[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

export default map(
  (ctx) => {
    const config = ctx.configJsonOr({ mode: 'identity', needle: '' });
    const mode = config.mode;
    if (!(mode in MODES)) throw new Error(`faulty guest: unknown mode \`${mode}\``);
    if ((mode === 'panic-on' || mode === 'loop-on' || mode === 'type-error-on') && config.needle === '') {
      throw new Error(`faulty guest: mode \`${mode}\` needs a non-empty \`needle\``);
    }
    // For the logging tests: a debug line that `EDDY_LOG=debug` shows.
    log.debug(`faulty guest: opened in mode ${MODES[mode]}`);
    const needle = encodeUtf8(config.needle);

    return (value) => {
      switch (mode) {
        case 'panic-on':
          if (contains(value, needle)) throw new Error(`faulty guest: found ${config.needle}`);
          break;
        case 'type-error-on':
          if (contains(value, needle)) {
            const record = {};
            return record.missing.x; // TypeError from the engine
          }
          break;
        case 'loop':
          for (;;) {}
        case 'loop-on':
          if (contains(value, needle)) for (;;) {}
          break;
        case 'hog': {
          const memory = new Uint8Array(1 << 30).fill(1);
          if (memory[12345] !== 1) throw new Error('unreachable');
          break;
        }
        case 'error':
          throw 'faulty guest: refused record';
        default:
          break;
      }
      return value;
    };
  },
  { input: 'bytes', output: 'bytes' },
);
