using Hybrid.Engine.Layers;

namespace Hybrid.Engine.Model;

/// <summary>
/// Where each named tensor lives in the one flat parameter buffer (and, identically, in the
/// gradient and optimizer-state buffers), so optimizers are one loop over one span.
/// Order: W1, b1, W2, b2, skip, W3, b3.
/// </summary>
public sealed class ParameterLayout
{
    public ParameterLayout(NetworkShape shape)
    {
        Shape = shape;
        var offset = 0;
        W1 = Next(ref offset, shape.M * shape.D);
        B1 = Next(ref offset, shape.M);
        W2 = Next(ref offset, shape.L * shape.M);
        B2 = Next(ref offset, shape.L);
        Skip = Next(ref offset, shape.SkipParameterCount);
        W3 = Next(ref offset, shape.P * shape.L);
        B3 = Next(ref offset, shape.P);
        Count = offset;
    }

    public NetworkShape Shape { get; }

    /// <summary>(M, D)</summary>
    public Range W1 { get; }

    /// <summary>(M)</summary>
    public Range B1 { get; }

    /// <summary>(L, M)</summary>
    public Range W2 { get; }

    /// <summary>(L)</summary>
    public Range B2 { get; }

    /// <summary>Ws (L, D), ws (min(L, D)) or empty, by skip kind.</summary>
    public Range Skip { get; }

    /// <summary>(P, L)</summary>
    public Range W3 { get; }

    /// <summary>(P)</summary>
    public Range B3 { get; }

    public int Count { get; }

    /// <summary>The ranges that weight decay applies to: every weight, the skip included, no bias.</summary>
    public IReadOnlyList<Range> Weights => [W1, W2, Skip, W3];

    /// <summary>Each tensor with the name and shape it is saved under.</summary>
    public IReadOnlyList<(string Name, Range Range, int[] Dimensions)> Tensors
    {
        get
        {
            var s = Shape;
            var list = new List<(string, Range, int[])>
            {
                ("W1", W1, [s.M, s.D]),
                ("b1", B1, [s.M]),
                ("W2", W2, [s.L, s.M]),
                ("b2", B2, [s.L]),
            };
            if (s.Skip == SkipKind.Dense) list.Add(("Ws", Skip, [s.L, s.D]));
            if (s.Skip == SkipKind.Diagonal) list.Add(("ws", Skip, [s.DiagonalWidth]));
            list.Add(("W3", W3, [s.P, s.L]));
            list.Add(("b3", B3, [s.P]));
            return list;
        }
    }

    private static Range Next(ref int offset, int length)
    {
        var range = new Range(offset, offset + length);
        offset += length;
        return range;
    }
}
