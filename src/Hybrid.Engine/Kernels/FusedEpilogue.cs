using System.Runtime.CompilerServices;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// An <see cref="Epilogue"/> pinned for the fast products: raw pointers, so it can ride inside a
/// parallel job, and a pass over one rectangle of c with the element-wise operations. A rectangle
/// starts at a multiple of 32 rows and columns, so its vector/scalar boundaries fall where a pass
/// over whole rows puts them; where they cannot (a row cut in two), the operations' scalar form is
/// their vector form lane by lane, so the bits are the same (tested against the separate pass).
/// </summary>
internal readonly unsafe struct FusedEpilogue(EpilogueKind kind, float* bias, float* operand, float* output)
{
    /// <summary>Rows [i0, i1) × columns [j0, j1) of c (row length n), which are complete.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(float* c, int n, int i0, int i1, int j0, int j1)
    {
        var width = j1 - j0;
        switch (kind)
        {
            case EpilogueKind.BiasTanh:
                var tanhBias = new ReadOnlySpan<float>(bias + j0, width);
                for (var i = i0; i < i1; i++)
                {
                    var row = new Span<float>(c + (long)i * n + j0, width);
                    Vectorized.Map(new TanhOfSum(), row, tanhBias, row);
                }

                break;
            case EpilogueKind.BiasReluPlus:
                var reluBias = new ReadOnlySpan<float>(bias + j0, width);
                for (var i = i0; i < i1; i++)
                {
                    var at = (long)i * n + j0;
                    var row = new Span<float>(c + at, width);
                    Vectorized.Map(new Add(), row, reluBias, row);
                    Vectorized.Map(new ReluPlus(), row, new ReadOnlySpan<float>(operand + at, width), new Span<float>(output + at, width));
                }

                break;
            case EpilogueKind.TanhGradient:
                Gradient(new TanhGradient(), c, n, i0, i1, j0, j1);
                break;
            case EpilogueKind.ReluGradient:
                Gradient(new ReluGradient(), c, n, i0, i1, j0, j1);
                break;
            default:
                return;
        }
    }

    // The gradients have no bias, so whole rows are one stretch of memory: one pass over it
    // instead of one per row (a digits-sized batch has 128 rows of 32 or 64).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Gradient<TOp>(TOp op, float* c, int n, int i0, int i1, int j0, int j1)
        where TOp : struct, IBinaryOp
    {
        var (rows, width) = j0 == 0 && j1 == n ? (1, (i1 - i0) * n) : (i1 - i0, j1 - j0);
        for (var r = 0; r < rows; r++)
        {
            var at = (long)(i0 + r) * n + j0;
            Vectorized.Map(op, new ReadOnlySpan<float>(c + at, width), new ReadOnlySpan<float>(operand + at, width), new Span<float>(output + at, width));
        }
    }
}
