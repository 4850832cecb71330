"""Failed-login throttling: a sliding window per client address."""

from gateway.smtp_in.throttle import LoginThrottle


def test_the_limit_blocks_until_the_window_has_passed() -> None:
    throttle = LoginThrottle(limit=3, window=60)
    for second in (0, 1, 2):
        assert not throttle.blocked("192.0.2.1", second)
        throttle.failed("192.0.2.1", second)
    assert throttle.blocked("192.0.2.1", 3)
    assert not throttle.blocked("192.0.2.2", 3)  # another address is not affected
    assert not throttle.blocked("192.0.2.1", 60.5)  # the first failure has left the window


def test_a_successful_login_clears_the_count() -> None:
    throttle = LoginThrottle(limit=2, window=60)
    throttle.failed("192.0.2.1", 0)
    throttle.succeeded("192.0.2.1")
    throttle.failed("192.0.2.1", 1)
    assert not throttle.blocked("192.0.2.1", 2)


def test_zero_means_no_limit() -> None:
    throttle = LoginThrottle(limit=0, window=60)
    for second in range(100):
        throttle.failed("192.0.2.1", second)
    assert not throttle.blocked("192.0.2.1", 100)
