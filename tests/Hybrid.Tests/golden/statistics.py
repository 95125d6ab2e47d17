"""Golden numbers for the statistics tests in ReportTests.fs, computed without MathNet: Student t
quantiles from their closed forms, p-values by integrating the t density with Simpson's rule.
Run: python3 tests/Hybrid.Tests/golden/statistics.py"""
from math import acos, cos, exp, lgamma, log, pi, sqrt

def density(t, dof):
    return exp(lgamma((dof + 1) / 2) - lgamma(dof / 2) - 0.5 * log(dof * pi) - (dof + 1) / 2 * log(1 + t * t / dof))

def upper_tail(t, dof, steps=200_000):
    """P(T > t) for t >= 0: 1/2 minus the integral of the density over [0, t] (Simpson)."""
    h = t / steps
    s = density(0, dof) + density(t, dof) + sum((4 if i % 2 else 2) * density(i * h, dof) for i in range(1, steps))
    return 0.5 - s * h / 3

def quantile_2(p):
    """Closed form for 2 degrees of freedom."""
    return (2 * p - 1) / sqrt(2 * p * (1 - p))

def quantile_4(p):
    """Closed form for 4 degrees of freedom."""
    a = 4 * p * (1 - p)
    q = cos(acos(sqrt(a)) / 3) / sqrt(a)
    return 2 * sqrt(q - 1)

def summary(xs):
    n = len(xs); m = sum(xs) / n
    return m, sum((x - m) ** 2 for x in xs) / (n - 1), n

def welch(a, b):
    ma, va, na = summary(a); mb, vb, nb = summary(b)
    se2 = va / na + vb / nb
    t = (ma - mb) / sqrt(se2)
    dof = se2 ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    return t, dof, 2 * upper_tail(abs(t), dof)

# Welch's t-test, example 1 of the English Wikipedia article (t = -2.46, dof = 24.9, p = 0.021).
a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
print("welch example 1: t=%.15g dof=%.15g p=%.15g" % welch(a1, a2))
# Unequal sizes and variances.
b1 = [0.91, 0.93, 0.92]
b2 = [0.88, 0.95, 0.80, 0.85]
print("welch small: t=%.15g dof=%.15g p=%.15g" % welch(b1, b2))
print("t quantile 0.975, dof 2: %.16g" % quantile_2(0.975))
print("t quantile 0.975, dof 4: %.16g" % quantile_4(0.975))

def holm(ps):
    """Holm-Bonferroni adjusted p-values, written from the definition: for the hypothesis of the
    i-th smallest p-value (i from 1), the largest of (m - j + 1) p_(j) over j <= i, capped at 1."""
    m = len(ps)
    order = sorted(range(m), key=lambda k: ps[k])
    adjusted = [0.0] * m
    for i in range(m):
        adjusted[order[i]] = min(1.0, max((m - j) * ps[order[j]] for j in range(i + 1)))
    return adjusted

# Worked by hand: sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to 0.06).
print("holm [0.01, 0.04, 0.03, 0.005]: %r" % holm([0.01, 0.04, 0.03, 0.005]))
# A tie, a cap at 1 and nine tests, as in scripts/skip.fsx.
print("holm nine: %r" % holm([0.2, 0.001, 0.04, 0.04, 0.5, 0.012, 0.3, 0.0002, 0.9]))
