//! Targets that fail on purpose, so the tests can see that the driver
//! reports each kind of failure. Never run unless named.

use super::FuzzTarget;

/// The failure a canary shows.
#[derive(Debug, Clone, Copy)]
pub enum Canary {
    Panic,
    Hang,
    Allocation,
}

const SEED: &[u8] = b"a valid input";

impl Canary {
    pub const ALL: [Canary; 3] = [Canary::Panic, Canary::Hang, Canary::Allocation];
}

impl FuzzTarget for Canary {
    fn name(&self) -> &'static str {
        match self {
            Canary::Panic => "canary-panic",
            Canary::Hang => "canary-hang",
            Canary::Allocation => "canary-allocation",
        }
    }

    fn seeds(&self) -> Result<Vec<Vec<u8>>, String> {
        Ok(vec![SEED.to_vec()])
    }

    /// Fails on the first input that is not the seed.
    fn run(&mut self, input: &[u8]) -> u64 {
        if input == SEED {
            return 0;
        }
        match self {
            Canary::Panic => panic!("the canary panics on purpose"),
            Canary::Hang => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            Canary::Allocation => {
                let held = vec![1u8; 256 << 20];
                std::hint::black_box(&held);
                0
            }
        }
    }
}
