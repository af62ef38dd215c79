import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Tell the `page` fixture's teardown whether the test body failed, so it can save a screenshot."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.guanxi_call_failed = report.failed
