using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Layers;

/// <summary>The first hidden layer's activation, with the preceding linear layer's bias fused in.</summary>
public static class Tanh
{
    // a: (B, n)  b: (n)  →  z: (B, n)      z = tanh(a + b); z may be a
    public static void Forward(KernelSet k, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> z, int batch) =>
        k.Elementwise.BiasTanh(a, b, z, batch);

    // dZ: (B, n)  z: (B, n)  →  dA: (B, n) = dZ ⊙ (1 − z²)      (tanh' from its output: no need to keep a)
    public static void Backward(KernelSet k, ReadOnlySpan<float> dZ, ReadOnlySpan<float> z, Span<float> dA) =>
        k.Elementwise.TanhBackward(dZ, z, dA);
}
