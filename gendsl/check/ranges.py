"""Valid ranges of numeric arguments: what torch accepts, and what stays finite in float32.

One `Range` per argument, kept as data beside each layer, optimizer, schedule and setting, so a
value the checker accepts never makes torch raise (`batchnorm(eps=0)`, `LinearLR` with an end
factor above 1, `torch.manual_seed(2**64)`) and never overflows float32 arithmetic (a weight
init of std 1e39, an exponential learning-rate decay with gamma above 1). Where torch accepts
more than is finite after one step (`leaky_relu(slope=1e30)`), the range is the finite one.
"""

from __future__ import annotations

from dataclasses import dataclass

F32_MAX = 3.4028234663852886e38
F32_TINY = 1.1754943508222875e-38  # the smallest normal float32: a smaller eps is 0 in float32


@dataclass(frozen=True)
class Range:
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is excluded
    high_open: bool = False  # high itself is excluded

    def __contains__(self, v: float) -> bool:
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            return False
        return not (self.high is not None and (v > self.high or (self.high_open and v == self.high)))

    def broken(self, v: float) -> str:
        """The bound `v` breaks, as words: `at least 1`, `positive`, `at most 1`, `below 1`."""
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            if self.low_open:
                return "positive" if self.low == 0 else f"above {_num(self.low)}"
            return f"at least {_num(self.low)}"
        return f"{'below' if self.high_open else 'at most'} {_num(self.high)}"

    def describe(self) -> str:
        """`positive`, `at least 1`, `in [0, 1)`, `in (0, 10]`."""
        low, high = self.low, self.high
        if high is None:
            if low == 0 and self.low_open:
                return "positive"
            return f"{'above' if self.low_open else 'at least'} {_num(low)}" if low is not None else "a number"
        if low is None:
            return f"{'below' if self.high_open else 'at most'} {_num(high)}"
        return f"in {'(' if self.low_open else '['}{_num(low)}, {_num(high)}{')' if self.high_open else ']'}"


def _num(v: float) -> str:
    return f"{int(v):,}" if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15) \
        else f"{v:g}"


FRACTION = Range(0, 1)
POSITIVE_INT = Range(1)
# Values the generated code multiplies into losses, noise and samples (loss weights, penalty weights,
# clipping bounds, noise and prior scales): squared once (an MSE, a KL's mu^2, a gradient penalty's
# norm) a value of 1e6 is 1e12, far inside float32; 1e20 squared is already infinite.
SCALE = 1e6
SIGNED_SCALE = Range(-SCALE, SCALE)
WEIGHT = SIGNED_SCALE  # a loss weight, or a value of a loss-weight schedule
POSITIVE_SCALE = Range(0, SCALE, low_open=True)
NONNEGATIVE_SCALE = Range(0, SCALE)


def out_of_range(name: str, value: float, valid: Range) -> str:
    """The message of E0220 for a number: "`name` must be at most 1,000,000, found 1e+07"."""
    shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return f"{name} must be {valid.broken(value)}, found {shown}"
