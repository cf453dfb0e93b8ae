//! Test guest (`window-process`): emits each fired window as
//! `{"key", "start", "end", "values": [...]}`, with the key as text and every
//! element's JSON value as it came, in the order the host delivered them.
//!
//! Host tests use it to see exactly what a window held when it fired: early
//! and late firings, merged session windows, count windows (start
//! `i64::MIN`, end `i64::MAX`). Elements that are not JSON fail the task.

use eddy_sdk::{Json, OpenContext, ProcessWindow, Window, WindowContext};
use serde::Serialize;
use serde_json::value::RawValue;

/// One firing of one window.
#[derive(Serialize)]
struct Collected {
    key: String,
    start: i64,
    end: i64,
    values: Vec<Box<RawValue>>,
}

struct WindowCollect;

impl ProcessWindow for WindowCollect {
    type In = Json<Box<RawValue>>;
    type Out = Json<Collected>;

    fn open(_: &mut OpenContext) -> Result<Self, String> {
        Ok(WindowCollect)
    }

    fn process(
        &mut self,
        window: &Window<'_>,
        elements: Vec<(i64, Json<Box<RawValue>>)>,
        ctx: &mut WindowContext<'_, Self::Out>,
    ) -> Result<(), String> {
        ctx.emit(Json(Collected {
            key: window.key_str()?.to_owned(),
            start: window.start,
            end: window.end,
            values: elements.into_iter().map(|(_, Json(value))| value).collect(),
        }));
        Ok(())
    }
}

eddy_sdk::export_process_window!(WindowCollect);

#[cfg(test)]
mod tests {
    use eddy_sdk::testing::{WindowHarness, Windows};

    fn values(output: &[eddy_sdk::testing::Output]) -> Vec<&str> {
        output
            .iter()
            .map(|output| std::str::from_utf8(&output.value).unwrap())
            .collect()
    }

    #[test]
    fn emits_each_window_with_its_elements_as_they_came() {
        let mut harness =
            WindowHarness::<super::WindowCollect>::open("", Windows::Tumbling { size: 10 })
                .unwrap();
        let records: [(&[u8], i64, &[u8]); 4] = [
            (b"k", 5, br#"{"b": 1, "a": 2}"#),
            (b"k", 1, b"7"),
            (b"j", 2, br#""s""#),
            (b"k", 12, b"[1,2]"),
        ];
        let output = harness.run_with_watermarks(&records, 4, 0).unwrap();
        assert_eq!(
            values(&output),
            [
                r#"{"key":"j","start":0,"end":10,"values":["s"]}"#,
                r#"{"key":"k","start":0,"end":10,"values":[{"b": 1, "a": 2},7]}"#,
                r#"{"key":"k","start":10,"end":20,"values":[[1,2]]}"#,
            ]
        );
    }

    #[test]
    fn count_windows_have_no_bounds() {
        let mut harness =
            WindowHarness::<super::WindowCollect>::open("", Windows::Count { size: 2 }).unwrap();
        let output = harness
            .process(&[(b"k", 1, b"1"), (b"k", 2, b"2")])
            .unwrap();
        assert_eq!(
            values(&output),
            [
                r#"{"key":"k","start":-9223372036854775808,"end":9223372036854775807,"values":[1,2]}"#
            ]
        );
    }

    #[test]
    fn non_json_elements_fail() {
        let mut harness =
            WindowHarness::<super::WindowCollect>::open("", Windows::Count { size: 1 }).unwrap();
        let error = harness.process(&[(b"k", 1, b"not json")]).unwrap_err();
        assert!(error.contains("not JSON"), "{error}");
    }
}
