"""What the host is told when user code fails."""

import pytest

import eddy_sdk
from eddy_sdk import FunctionError
from eddy_sdk.runtime import Runtime
from eddy_sdk.testing import Failure, KeyedHarness, run_map


class Divide(eddy_sdk.Map):
    def map(self, record):
        return {"q": 100 // record["d"]}


def test_an_exception_names_its_type_message_file_and_line_and_the_event():
    with pytest.raises(Failure) as error:
        run_map(Divide, [{"d": 5}, {"d": 0}, {"d": 1}])
    failure = error.value
    assert failure.message.startswith("ZeroDivisionError: integer division or modulo by zero (at test_errors.py:")
    assert failure.message.endswith(" in map)")
    assert failure.event == 1, "the second record raised"
    assert failure.panic, "reported like a Rust panic: record-panic-at, then a trap"


def test_the_line_is_the_one_that_raised():
    import inspect

    line = inspect.getsourcelines(Divide.map)[1] + 1
    with pytest.raises(Failure, match=rf"\(at test_errors.py:{line} in map\)"):
        run_map(Divide, [{"d": 0}])


def test_function_error_is_a_plain_error_result():
    class Refuse(eddy_sdk.Map):
        def map(self, record):
            raise FunctionError("refused record")

    with pytest.raises(Failure) as error:
        run_map(Refuse, [b"{}"])
    assert (error.value.message, error.value.event, error.value.panic) == ("refused record", 0, False)


def test_a_record_that_is_not_json_says_so_with_a_preview():
    with pytest.raises(Failure, match=r"record is not JSON: .* \(record starts with 'not json'\)"):
        run_map(Divide, [b"not json"])


def test_an_output_that_is_not_json_is_an_error():
    class Bad(eddy_sdk.Map):
        def map(self, record):
            return {1, 2}

    with pytest.raises(Failure, match="cannot encode set as JSON"):
        run_map(Bad, [b"{}"])


def test_open_failures_fail_init_with_their_message():
    class NeedsConfig(eddy_sdk.KeyedProcess):
        def open(self, ctx):
            self.v = ctx.value_state("v")
            self.limit = ctx.config_json()["limit"]

    with pytest.raises(Failure, match="needs a JSON config but the operator has none"):
        KeyedHarness(NeedsConfig)
    with pytest.raises(Failure, match="operator config is not JSON"):
        KeyedHarness(NeedsConfig, "{limit")
    with pytest.raises(Failure, match=r"KeyError: 'limit' \(at test_errors.py:\d+ in open\)"):
        KeyedHarness(NeedsConfig, "{}")
    # describe still reports the states registered before the failure
    assert [s.name for s in Runtime(NeedsConfig).describe()[1]] == ["v"]


def test_keyed_failures_name_the_event():
    class Boom(eddy_sdk.KeyedProcess):
        def process(self, record, ctx):
            if record == "boom":
                raise RuntimeError("bad")
            ctx.emit(record)

        def on_timer(self, timestamp, domain, ctx):
            raise RuntimeError("timer")

    with pytest.raises(Failure) as error:
        KeyedHarness(Boom).process([("a", 1, '"ok"'), ("b", 2, '"boom"')])
    assert error.value.event == 1 and error.value.message.startswith("RuntimeError: bad")


def test_a_function_that_gets_events_of_another_kind_says_so():
    class Windowless(eddy_sdk.KeyedProcess):
        def process(self, record, ctx):
            pass

    harness = KeyedHarness(Windowless)
    with pytest.raises(Failure, match="a keyed-process function got a window"):
        harness.run_batch([(b"k", ("window", 0, 10, [], 9))])
