// Split each line `{"line": "..."}` into lower-case words `{"word": "..."}`
// (flat-map): the JavaScript twin of ../word-split/src/lib.rs. Words are runs
// of letters and digits (Unicode alphanumerics, as Rust's char::is_alphanumeric).
import { flatMap } from 'eddy-sdk';

const SEPARATOR = /[^\p{Alphabetic}\p{Nd}\p{Nl}\p{No}]+/u;

export default flatMap(() => (input, out) => {
  for (const word of input.line.split(SEPARATOR)) {
    if (word !== '') out.emit({ word: word.toLowerCase() });
  }
});
