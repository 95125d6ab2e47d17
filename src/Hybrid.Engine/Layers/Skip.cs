using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Layers;

/// <summary>The skip from the input to the second hidden layer, in the seed's two forms or none.</summary>
public static class Skip
{
    // x: (B, D)  w: Ws (L, D) | ws (min(L, D)) | empty  →  s: (B, L)
    //   Dense: s = x·Wsᵀ;  Diagonal: s[b, j] = ws[j]·x[b, j] for j < min(L, D), else 0;  None: s = 0
    public static void Forward(KernelSet k, SkipKind kind, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> s, int batch, int d, int l)
    {
        switch (kind)
        {
            case SkipKind.Dense:
                k.Products.MultiplyABt(x, w, s, batch, l, d, accumulate: false);
                break;
            case SkipKind.Diagonal:
                k.Elementwise.ScaleColumns(x, d, w, s, batch, l);
                break;
            case SkipKind.None:
                s[..(batch * l)].Clear();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown skip kind");
        }
    }

    // dS: (B, L)  x: (B, D)  w: as in Forward  →  dX: (B, D) += ∂/∂x,  dW: as w, += ∂/∂w
    //   Dense: dX += dS·Ws, dWs += dSᵀ·x;  Diagonal: dX[b, j] += dS[b, j]·ws[j], dws[j] += Σ_b dS[b, j]·x[b, j]
    // (an empty dX means: don't compute the input gradient; accumulate false overwrites dW, as in Linear)
    public static void Backward(KernelSet k, SkipKind kind, ReadOnlySpan<float> dS, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<float> dX, Span<float> dW, int batch, int d, int l, bool accumulate = true)
    {
        switch (kind)
        {
            case SkipKind.Dense:
                k.Products.MultiplyAtB(dS, x, dW, l, d, batch, accumulate);
                if (!dX.IsEmpty) k.Products.MultiplyAB(dS, w, dX, batch, d, l, accumulate: true);
                break;
            case SkipKind.Diagonal:
                if (!accumulate) dW.Clear();
                k.Elementwise.ScaleColumnsBackward(dS, l, x, d, w, dW, dX, batch);
                break;
            case SkipKind.None:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown skip kind");
        }
    }
}
