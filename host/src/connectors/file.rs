//! Line sources: a file, or standard input.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::{
    Position, RawRecord, ReadStatus, SourceReader, SplitPosition, own_position, single_position,
};

/// Splits a byte stream into lines, tracking line numbers and byte offsets;
/// blank lines are skipped.
struct LineSplitter<R> {
    input: R,
    line: u64,
    offset: u64,
}

impl<R: BufRead> LineSplitter<R> {
    fn new(input: R) -> Self {
        LineSplitter {
            input,
            line: 0,
            offset: 0,
        }
    }

    /// The next non-blank line, or `None` at the end.
    fn next_line(&mut self) -> std::io::Result<Option<RawRecord>> {
        loop {
            let mut value = Vec::new();
            let read = self.input.read_until(b'\n', &mut value)?;
            if read == 0 {
                return Ok(None);
            }
            let position = Position::Line {
                line: self.line + 1,
                offset: self.offset,
            };
            self.line += 1;
            self.offset += read as u64;
            while matches!(value.last(), Some(b'\n' | b'\r')) {
                value.pop();
            }
            if value.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(RawRecord {
                value,
                timestamp: None,
                key: None,
                position,
                split: 0,
            }));
        }
    }
}

/// Reads a file of lines from the start to the end.
pub struct FileReader {
    path: PathBuf,
    lines: LineSplitter<BufReader<File>>,
}

impl FileReader {
    /// A reader of the regular file at `path`; other files (named pipes,
    /// devices) can pause without ending, so they get a [`ThreadedLineReader`].
    pub fn open(path: &Path) -> std::io::Result<Box<dyn SourceReader>> {
        let file = File::open(path)?;
        if file.metadata()?.is_file() {
            Ok(Box::new(FileReader {
                path: path.to_path_buf(),
                lines: LineSplitter::new(BufReader::with_capacity(256 * 1024, file)),
            }))
        } else {
            Ok(Box::new(ThreadedLineReader::start(
                path.display().to_string(),
                BufReader::new(file),
            )))
        }
    }
}

impl SourceReader for FileReader {
    fn read(&mut self, max: usize, out: &mut Vec<RawRecord>) -> std::io::Result<ReadStatus> {
        for _ in 0..max {
            match self.lines.next_line()? {
                Some(record) => out.push(record),
                None => return Ok(ReadStatus::Finished),
            }
        }
        Ok(ReadStatus::More)
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn split_id(&self, _index: usize) -> String {
        "file".into()
    }

    fn positions(&self) -> Option<Vec<SplitPosition>> {
        single_position(
            self,
            &FilePosition {
                offset: self.lines.offset,
                lines: self.lines.line,
            },
        )
    }

    fn restore(&mut self, restored: &[SplitPosition]) -> std::io::Result<()> {
        let Some(FilePosition { offset, lines }) = own_position(self, restored)? else {
            return Ok(());
        };
        let length = self.lines.input.get_ref().metadata()?.len();
        if offset > length {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the checkpoint read up to byte {offset}, but the file now has only {length} bytes; was it replaced?"
                ),
            ));
        }
        self.lines.input.seek(SeekFrom::Start(offset))?;
        self.lines.offset = offset;
        self.lines.line = lines;
        Ok(())
    }
}

/// Where a file reader goes on: the byte offset of its next line, and that
/// line's number - 1.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct FilePosition {
    offset: u64,
    lines: u64,
}

/// Reads lines on a thread of its own, so that a batch closes as soon as no
/// line is waiting (one record per batch when input is slow) and a quiet
/// input shows as idle: standard input, named pipes.
pub struct ThreadedLineReader {
    name: String,
    lines: Receiver<std::io::Result<RawRecord>>,
}

impl ThreadedLineReader {
    /// Lines of standard input.
    pub fn stdin() -> Self {
        Self::start("stdin".into(), BufReader::new(std::io::stdin()))
    }

    /// Lines of `input`, named `name` in messages.
    pub fn start(name: String, input: impl BufRead + Send + 'static) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(1024);
        std::thread::Builder::new()
            .name(format!("eddy-read {name}"))
            .spawn(move || {
                let mut lines = LineSplitter::new(input);
                loop {
                    match lines.next_line() {
                        Ok(Some(record)) => {
                            if tx.send(Ok(record)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(error) => {
                            let _ = tx.send(Err(error));
                            return;
                        }
                    }
                }
            })
            .expect("spawning a reader thread");
        ThreadedLineReader { name, lines: rx }
    }
}

impl SourceReader for ThreadedLineReader {
    fn read(&mut self, max: usize, out: &mut Vec<RawRecord>) -> std::io::Result<ReadStatus> {
        match self.lines.recv_timeout(Duration::from_millis(50)) {
            Ok(record) => out.push(record?),
            Err(RecvTimeoutError::Timeout) => return Ok(ReadStatus::Idle),
            Err(RecvTimeoutError::Disconnected) => return Ok(ReadStatus::Finished),
        }
        while out.len() < max {
            match self.lines.try_recv() {
                Ok(record) => out.push(record?),
                Err(TryRecvError::Empty) => return Ok(ReadStatus::More),
                Err(TryRecvError::Disconnected) => return Ok(ReadStatus::Finished),
            }
        }
        Ok(ReadStatus::More)
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn split_id(&self, _index: usize) -> String {
        self.name.clone()
    }

    fn positions(&self) -> Option<Vec<SplitPosition>> {
        None
    }

    fn restore(&mut self, _restored: &[SplitPosition]) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!(
                "{} cannot be read again from a checkpointed position",
                self.name
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reader_seeked_to_a_position_reads_on_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        std::fs::write(&path, "a\nbb\n\nccc\ndddd\n").unwrap();
        let mut first = FileReader::open(&path).unwrap();
        let mut out = Vec::new();
        first.read(2, &mut out).unwrap();
        let positions = first.positions().unwrap();
        assert_eq!(
            positions,
            [SplitPosition {
                split: "file".into(),
                position: serde_json::json!({"offset": 5, "lines": 2})
            }]
        );

        let mut second = FileReader::open(&path).unwrap();
        second.restore(&positions).unwrap();
        let mut rest = Vec::new();
        assert_eq!(second.read(10, &mut rest).unwrap(), ReadStatus::Finished);
        let read: Vec<_> = rest
            .iter()
            .map(|r| (r.value.clone(), r.position.clone()))
            .collect();
        assert_eq!(
            read,
            [
                (b"ccc".to_vec(), Position::Line { line: 4, offset: 6 }),
                (
                    b"dddd".to_vec(),
                    Position::Line {
                        line: 5,
                        offset: 10
                    }
                ),
            ]
        );
        let beyond = SplitPosition {
            split: "file".into(),
            position: serde_json::json!({"offset": 999, "lines": 9}),
        };
        let error = FileReader::open(&path)
            .unwrap()
            .restore(&[beyond])
            .unwrap_err();
        assert!(
            error.to_string().contains("the file now has only 15 bytes"),
            "{error}"
        );
    }

    #[test]
    fn lines_carry_numbers_and_offsets_and_blank_lines_are_skipped() {
        let mut lines = LineSplitter::new(&b"a\r\n\nbc\nd"[..]);
        let a = lines.next_line().unwrap().unwrap();
        assert_eq!(
            (a.value.as_slice(), a.position),
            (&b"a"[..], Position::Line { line: 1, offset: 0 })
        );
        let bc = lines.next_line().unwrap().unwrap();
        assert_eq!(
            (bc.value.as_slice(), bc.position),
            (&b"bc"[..], Position::Line { line: 3, offset: 4 })
        );
        let d = lines.next_line().unwrap().unwrap();
        assert_eq!(d.position, Position::Line { line: 4, offset: 7 });
        assert!(lines.next_line().unwrap().is_none());
    }
}
