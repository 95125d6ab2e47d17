using System.Runtime.CompilerServices;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// An <see cref="Epilogue"/> pinned for the fast products: raw pointers, so it can ride inside a
/// parallel job, and a pass over one rectangle of c, row by row with the element-wise operations.
/// A rectangle starts at a multiple of 32 columns, so each row's vector/scalar boundary falls where
/// a pass over the whole row puts it.
/// </summary>
internal readonly unsafe struct FusedEpilogue(EpilogueKind kind, float* bias, float* operand, float* output)
{
    public bool IsNone => kind == EpilogueKind.None;

    /// <summary>Rows [i0, i1) × columns [j0, j1) of c (row length n), which are complete.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(float* c, int n, int i0, int i1, int j0, int j1)
    {
        var width = j1 - j0;
        for (var i = i0; i < i1; i++)
        {
            var at = (long)i * n + j0;
            var row = new Span<float>(c + at, width);
            switch (kind)
            {
                case EpilogueKind.BiasTanh:
                    Vectorized.Map(new TanhOfSum(), row, new ReadOnlySpan<float>(bias + j0, width), row);
                    break;
                case EpilogueKind.BiasReluPlus:
                    Vectorized.Map(new Add(), row, new ReadOnlySpan<float>(bias + j0, width), row);
                    Vectorized.Map(new ReluPlus(), row, new ReadOnlySpan<float>(operand + at, width), new Span<float>(output + at, width));
                    break;
                case EpilogueKind.TanhGradient:
                    Vectorized.Map(new TanhGradient(), row, new ReadOnlySpan<float>(operand + at, width), new Span<float>(output + at, width));
                    break;
                case EpilogueKind.ReluGradient:
                    Vectorized.Map(new ReluGradient(), row, new ReadOnlySpan<float>(operand + at, width), new Span<float>(output + at, width));
                    break;
                default:
                    return;
            }
        }
    }
}
