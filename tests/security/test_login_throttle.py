"""LoginThrottle on a fake clock: free failures, growing blocks, resets, bounds."""

from __future__ import annotations

from aiproxy.security.login_throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, username: str, address: str) -> int | None:
    """One wrong password: begin() and nothing else (begin counts it)."""
    return throttle.begin(username, address)


def test_five_free_then_blocked_with_growing_delays() -> None:
    clock = Clock()
    t = LoginThrottle(clock=clock)
    for _ in range(5):
        assert fail(t, "admin", "1.2.3.4") is None
    # The 6th attempt inside the block is refused, and not counted.
    assert fail(t, "admin", "1.2.3.4") == 1
    assert fail(t, "admin", "1.2.3.4") == 1
    waits: list[int | None] = []
    wait = 1
    for _ in range(6):
        # The block is over: the next wrong password is checked, and blocks longer.
        clock.now += wait
        assert fail(t, "admin", "1.2.3.4") is None
        wait = fail(t, "admin", "1.2.3.4") or 0
        waits.append(wait)
    assert waits == [2, 4, 8, 16, 32, 64]


def test_delay_is_capped() -> None:
    t = LoginThrottle(max_delay=900)
    assert [t.delay_after(n) for n in (0, 4, 5, 6, 7)] == [0, 0, 1, 2, 4]
    assert t.delay_after(15) == 900 and t.delay_after(10_000) == 900


def test_per_address_across_usernames() -> None:
    clock = Clock()
    t = LoginThrottle(clock=clock)
    for i in range(5):
        assert fail(t, f"user{i}", "10.0.0.1") is None
    # A new username from the same address is blocked; from another address it is not.
    assert fail(t, "someone-else", "10.0.0.1") == 1
    assert fail(t, "someone-else", "10.0.0.2") is None


def test_per_username_across_addresses() -> None:
    t = LoginThrottle(clock=Clock())
    for i in range(5):
        assert fail(t, "admin", f"10.0.0.{i}") is None
    assert fail(t, "admin", "10.9.9.9") == 1
    assert fail(t, "other", "10.9.9.9") is None


def test_success_resets_the_username_but_not_the_address() -> None:
    clock = Clock()
    t = LoginThrottle(clock=clock)
    for _ in range(4):
        fail(t, "alice", "10.0.0.1")
    for i in range(3):
        fail(t, f"x{i}", "10.0.0.1")  # the address is at 7 failures: blocked
    clock.now += 10
    assert t.begin("alice", "10.0.0.1") is None
    t.succeeded("alice", "10.0.0.1")
    # alice starts from zero again: 5 more free failures from a fresh address.
    for _ in range(5):
        assert fail(t, "alice", "10.0.0.9") is None
    assert fail(t, "alice", "10.0.0.9") == 1
    # The address kept its 7 (the success was given back, nothing more): blocked again after one failure.
    clock.now += 100
    assert fail(t, "bob", "10.0.0.1") is None
    assert fail(t, "bob", "10.0.0.1") is not None


def test_success_within_the_free_failures_clears_the_block_it_was_counted_into() -> None:
    t = LoginThrottle(clock=Clock())
    for _ in range(4):
        fail(t, "alice", "10.0.0.1")
    # The 5th attempt was counted (and blocked the address) before its password was checked...
    assert t.begin("alice", "10.0.0.1") is None
    # ...then turned out right: given back, nothing stays blocked.
    t.succeeded("alice", "10.0.0.1")
    assert t.begin("alice", "10.0.0.1") is None


def test_not_checked_is_given_back() -> None:
    t = LoginThrottle(clock=Clock())
    for _ in range(20):
        assert t.begin("admin", "10.0.0.1") is None
        t.not_checked("admin", "10.0.0.1")


def test_forgotten_after_the_window() -> None:
    clock = Clock()
    t = LoginThrottle(window=3600, max_delay=900, clock=clock)
    for _ in range(6):
        clock.now += 1000
        fail(t, "admin", "10.0.0.1")
    assert t.sizes() == (1, 1)
    clock.now += 3600
    assert t.begin("admin", "10.0.0.1") is None  # forgotten: this is failure 1 again
    for _ in range(4):
        assert fail(t, "admin", "10.0.0.1") is None
    assert fail(t, "admin", "10.0.0.1") == 1


def test_window_never_shorter_than_a_block() -> None:
    clock = Clock()
    t = LoginThrottle(window=10, max_delay=900, clock=clock)
    for _ in range(5):
        fail(t, "admin", "a")
    wait = 1
    while wait < 900:
        clock.now += wait
        assert fail(t, "admin", "a") is None
        wait = fail(t, "admin", "a") or 0
    # Still blocked long after the 10 s "window" since the last failure.
    clock.now += 60
    assert fail(t, "admin", "a") == 840


def test_spraying_names_and_addresses_stays_bounded() -> None:
    clock = Clock()
    t = LoginThrottle(capacity=1000, clock=clock)
    for i in range(20_000):
        t.begin(f"user-{i}" + "x" * 10_000, f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert t.sizes() == (1000, 1000)
    # The most recent ones are what is remembered.
    for _ in range(4):
        fail(t, "user-19999" + "x" * 10_000, "elsewhere")
    assert fail(t, "user-19999" + "x" * 10_000, "elsewhere") == 1


def test_long_usernames_are_kept_as_digests() -> None:
    t = LoginThrottle(clock=Clock())
    t.begin("a" * 1_000_000, "10.0.0.1")
    [key] = list(t._users._rows)
    assert isinstance(key, bytes) and len(key) == 16


def test_scopes_count_apart_addresses_across_them() -> None:
    t = LoginThrottle(clock=Clock())
    for i in range(5):
        assert t.begin("alice", f"10.0.0.{i}", scope="login") is None
    assert t.begin("alice", "10.0.1.1", scope="login") == 1
    assert t.begin("alice", "10.0.1.1", scope="password") is None
    for _ in range(5):
        t.begin("1", "10.0.2.1", scope="password")
    assert t.begin("bob", "10.0.2.1", scope="login") == 1  # the address's 5 counted across scopes


def test_ipv6_is_counted_per_64_and_mapped_ipv4_as_ipv4() -> None:
    t = LoginThrottle(clock=Clock())
    for i in range(5):
        assert fail(t, f"u{i}", f"2001:db8:1:2::{i + 1:x}") is None
    assert fail(t, "u9", "2001:db8:1:2:ffff::1") == 1  # the same /64
    assert fail(t, "u9", "2001:db8:1:3::1") is None  # another /64
    for i in range(5):
        fail(t, f"v{i}", "192.0.2.7")
    assert fail(t, "v9", "::ffff:192.0.2.7") == 1
