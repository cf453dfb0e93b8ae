//! Byte-level mutations of valid inputs: small damage (flipped bits,
//! changed, inserted or removed bytes, boundary integers, tokens of the
//! format) that keeps most of an input's structure, so a reader gets past
//! its first check and meets the damage deep inside.

/// A small, seedable random number generator (xorshift64*), so a run can
/// be repeated with `--seed`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that are often where parsers go wrong.
const INTERESTING_BYTES: [u8; 12] = [
    0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'\n', b'[', b'{', b'0', b'9',
];

/// Integers at the edges of their types, written over 1, 2, 4 or 8 bytes:
/// where length and count fields overflow.
const INTERESTING_INTEGERS: [u64; 9] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    u64::MAX,
];

/// Applies one to eight mutations to `input`, with `dictionary` (tokens of
/// the input's format) and `donors` (other inputs, for splicing).
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, dictionary: &[&[u8]], donors: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(8) {
        mutate_once(rng, input, dictionary, donors);
    }
}

fn mutate_once(rng: &mut Rng, input: &mut Vec<u8>, dictionary: &[&[u8]], donors: &[Vec<u8>]) {
    if input.is_empty() {
        input.push(*rng.pick(&INTERESTING_BYTES));
        return;
    }
    let at = rng.below(input.len());
    match rng.below(10) {
        0 => input[at] ^= 1 << rng.below(8),
        1 => input[at] = *rng.pick(&INTERESTING_BYTES),
        2 => input[at] = rng.next_u64() as u8,
        3 => {
            let len = 1 + rng.below(input.len() - at).min(64);
            input.drain(at..at + len);
        }
        4 => {
            let bytes: Vec<u8> = (0..1 + rng.below(8))
                .map(|_| rng.next_u64() as u8)
                .collect();
            input.splice(at..at, bytes);
        }
        5 => {
            let width = *rng.pick(&[1usize, 2, 4, 8]);
            let value = rng
                .pick(&INTERESTING_INTEGERS)
                .wrapping_add(rng.below(3) as u64)
                .wrapping_sub(1);
            let bytes = if rng.chance(2) {
                value.to_le_bytes()
            } else {
                value.to_be_bytes()
            };
            let bytes = if rng.chance(2) {
                &bytes[..width]
            } else {
                &bytes[8 - width..]
            };
            let end = (at + width).min(input.len());
            input.splice(at..end, bytes.iter().copied());
        }
        6 if !dictionary.is_empty() => {
            let token = rng.pick(dictionary);
            if rng.chance(2) {
                input.splice(at..at, token.iter().copied());
            } else {
                let end = (at + token.len()).min(input.len());
                input.splice(at..end, token.iter().copied());
            }
        }
        7 => {
            // Repeat a piece: deeper nesting, more frames, longer strings.
            let len = 1 + rng.below(input.len() - at).min(256);
            let piece = input[at..at + len].to_vec();
            let to = rng.below(input.len() + 1);
            for _ in 0..1 + rng.below(4) {
                input.splice(to..to, piece.iter().copied());
            }
        }
        8 if !donors.is_empty() => {
            // Splice: the start of this input, the end of another.
            let donor = rng.pick(donors);
            if !donor.is_empty() {
                let from = rng.below(donor.len());
                input.truncate(at);
                input.extend_from_slice(&donor[from..]);
            }
        }
        _ => input.truncate(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_change_inputs_and_never_panic_on_any_size() {
        let mut rng = Rng::new(7);
        let donors = vec![b"donor bytes".to_vec(), Vec::new()];
        let mut changed = 0;
        for len in [0usize, 1, 2, 9, 300] {
            for _ in 0..2000 {
                let original: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut input = original.clone();
                mutate(&mut rng, &mut input, &[b"token"], &donors);
                changed += usize::from(input != original);
            }
        }
        assert!(changed > 9000, "only {changed} of 10000 inputs changed");
    }
}
