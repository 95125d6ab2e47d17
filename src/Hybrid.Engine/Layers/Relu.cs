using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Layers;

/// <summary>
/// The second hidden layer's activation plus the skip: z = ReLU(a + b) + s. The bias is fused in,
/// and a keeps the biased pre-activation because the backward pass needs its sign.
/// </summary>
public static class Relu
{
    // a: (B, n) becomes a + b;  b: (n)  s: (B, n)  →  z: (B, n)      z = ReLU(a + b) + s
    public static void Forward(KernelSet k, Span<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> s, Span<float> z, int batch) =>
        k.Elementwise.BiasReluPlus(a, b, s, z, batch);

    // dZ: (B, n)  a: (B, n)  →  dA: (B, n) = dZ where a > 0, else 0      (ReLU'(0) = 0, as in PyTorch)
    // The skip's gradient is dZ itself: the sum passes it through unchanged.
    public static void Backward(KernelSet k, ReadOnlySpan<float> dZ, ReadOnlySpan<float> a, Span<float> dA) =>
        k.Elementwise.ReluBackward(dZ, a, dA);
}
