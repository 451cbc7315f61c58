"""sleep, until, poll and fail: constant and computed timers, polling with a deadline."""

from datetime import UTC, datetime, timedelta

from attrs import frozen

from dsl import fail, poll, process, sleep, until, workflow


@frozen
class Booking:
    booking_id: str
    starts_at: datetime
    confirmed: bool = False
    reminder_hours: int = 24


def confirmed(b: Booking) -> bool:
    return b.confirmed


def reminder_delay(b: Booking) -> timedelta:
    return timedelta(hours=b.reminder_hours)


Bookings = (
    workflow("Bookings", Booking, key=lambda b: b.booking_id)
    >> process("CONFIRM")
    >> sleep(timedelta(seconds=90, microseconds=5))
    >> poll(confirmed, every=timedelta(minutes=1), deadline=lambda b: b.starts_at)
    >> process("REMIND")
    >> sleep(reminder_delay)
    >> sleep(lambda b: timedelta(minutes=b.reminder_hours))
    >> until(lambda b: b.starts_at - timedelta(hours=1))
    >> until(lambda b: datetime(2030, 1, 1, tzinfo=UTC))
    >> process("EXPIRE")
    >> fail(lambda b: f"booking {b.booking_id} expired")
)
