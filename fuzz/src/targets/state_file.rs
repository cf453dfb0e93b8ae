//! The operator state-file reader (`state_file::decode_into`).

use eddy::checkpoint::state_file::decode_into;
use eddy::snapshot::RestoredOperatorState;
use eddy::state::KeyGroupRange;

use super::{FuzzTarget, files_below, seed_dir, signature};

/// State files of real checkpoints (`fuzz/seeds/checkpoints`, every file
/// but the manifests), read as a restoring subtask reads them.
pub struct OperatorStateFile;

impl FuzzTarget for OperatorStateFile {
    fn name(&self) -> &'static str {
        "state-file"
    }

    fn seeds(&self) -> Result<Vec<Vec<u8>>, String> {
        files_below(&seed_dir("checkpoints"), &|path| {
            path.file_name()
                .is_some_and(|name| name != eddy::checkpoint::local::MANIFEST)
        })
    }

    fn run(&mut self, input: &[u8]) -> u64 {
        // Once keeping every key group and the broadcast state, once as
        // subtask 1 of 2 keeping only its own.
        let everything = KeyGroupRange {
            groups: 0..u16::MAX,
        };
        let read = |range: &KeyGroupRange, with_broadcast: bool| {
            let mut restored = RestoredOperatorState::default();
            decode_into(&mut restored, input, range, with_broadcast).map(|()| restored)
        };
        let all = read(&everything, true);
        let half = KeyGroupRange::for_subtask(1, 2, 128);
        let part = read(&half, false);
        signature(&all) ^ signature(&part).rotate_left(1)
    }
}
