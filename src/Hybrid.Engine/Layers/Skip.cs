using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Layers;

/// <summary>The skip from the input to the second hidden layer, in the seed's two forms or none.</summary>
public static class Skip
{
    // x: (B, D)  w: Ws (L, D) | ws (min(L, D)) | empty  →  s: (B, L)
    //   Dense: s = x·Wsᵀ;  Diagonal: s[b, j] = ws[j]·x[b, j] for j < min(L, D), else 0;  None: s = 0
    public static void Forward(KernelSet k, NetworkShape shape, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> s, int batch)
    {
        switch (shape.Skip)
        {
            case SkipKind.Dense:
                k.Products.MultiplyABt(x, w, s, batch, shape.L, shape.D, accumulate: false);
                break;
            case SkipKind.Diagonal:
                k.Elementwise.ScaleColumns(x, shape.D, w, s, batch, shape.L);
                break;
            case SkipKind.None:
                s[..(batch * shape.L)].Clear();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(shape), shape.Skip, "unknown skip kind");
        }
    }

    // dS: (B, L)  x: (B, D)  w: as in Forward  →  dX: (B, D) += ∂/∂x,  dW: as w, += ∂/∂w
    //   Dense: dX += dS·Ws, dWs += dSᵀ·x;  Diagonal: dX[b, j] += dS[b, j]·ws[j], dws[j] += Σ_b dS[b, j]·x[b, j]
    // (an empty dX means: don't compute the input gradient; accumulate false overwrites dW, as in Linear)
    public static void Backward(KernelSet k, NetworkShape shape, ReadOnlySpan<float> dS, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<float> dX, Span<float> dW, int batch, bool accumulate = true)
    {
        switch (shape.Skip)
        {
            case SkipKind.Dense:
                k.Products.MultiplyAtB(dS, x, dW, shape.L, shape.D, batch, accumulate);
                if (!dX.IsEmpty) k.Products.MultiplyAB(dS, w, dX, batch, shape.D, shape.L, accumulate: true);
                break;
            case SkipKind.Diagonal:
                if (!accumulate) dW.Clear();
                k.Elementwise.ScaleColumnsBackward(dS, shape.L, x, shape.D, w, dW, dX, batch);
                break;
            case SkipKind.None:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(shape), shape.Skip, "unknown skip kind");
        }
    }
}
