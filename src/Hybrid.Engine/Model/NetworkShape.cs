using Hybrid.Engine.Layers;

namespace Hybrid.Engine.Model;

/// <summary>
/// Input width D, hidden widths M and L, P classes and the skip kind: everything that fixes the
/// number and layout of the parameters.
/// </summary>
public sealed record NetworkShape
{
    public NetworkShape(int d, int m, int l, int p, SkipKind skip = SkipKind.Dense)
    {
        Require(d, nameof(d), 1);
        Require(m, nameof(m), 1);
        Require(l, nameof(l), 1);
        Require(p, nameof(p), 2);
        if (!Enum.IsDefined(skip))
            throw new ArgumentException($"skip: expected Dense, Diagonal or None, found {(int)skip}", nameof(skip));
        (D, M, L, P, Skip) = (d, m, l, p, skip);
        // Each product of two int widths fits in a long, and the sum stops growing once past the
        // bound, so checked 64-bit arithmetic never overflows here; past the bound, int sizes would.
        var count = 0L;
        foreach (var size in Sizes)
        {
            count = checked(count + size);
            if (count > MaxParameters)
                throw new ArgumentOutOfRangeException(nameof(d), count, $"the widths {this} need more than {MaxParameters} parameters, more than one array holds");
        }
        ParameterCount = (int)count;
    }

    /// <summary>The most parameters a network holds: one array's length.</summary>
    public static int MaxParameters => Array.MaxLength;

    public int D { get; }
    public int M { get; }
    public int L { get; }
    public int P { get; }
    public SkipKind Skip { get; }

    /// <summary>Columns the diagonal skip connects: the seed's "j ≤ D" read with j ≤ L too.</summary>
    public int DiagonalWidth => Math.Min(L, D);

    /// <summary>How many numbers the skip holds: L·D (dense), min(L, D) (diagonal) or 0.</summary>
    public int SkipParameterCount => (int)SkipSize;

    /// <summary>Every parameter, at most <see cref="MaxParameters"/>: checked when the shape is made.</summary>
    public int ParameterCount { get; }

    private long SkipSize => Skip switch
    {
        SkipKind.Dense => (long)L * D,
        SkipKind.Diagonal => DiagonalWidth,
        _ => 0,
    };

    /// <summary>The tensors' sizes in ParameterLayout's order: W1, b1, W2, b2, skip, W3, b3.</summary>
    private IEnumerable<long> Sizes => [(long)M * D, M, (long)L * M, L, SkipSize, (long)P * L, P];

    public override string ToString() => $"{D}-{M}-{L}-{P} ({Skip} skip)";

    private static void Require(int value, string name, int minimum)
    {
        if (value < minimum)
            throw new ArgumentOutOfRangeException(name, value, $"{name}: expected a width of at least {minimum}, found {value}");
    }
}
