using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Layers;

/// <summary>
/// The second hidden layer's activation plus the skip: z = ReLU(a + b) + s, run as the epilogue of
/// the product that computes a. The bias is fused in, and a keeps the biased pre-activation because
/// the backward pass needs its sign.
/// </summary>
public static class Relu
{
    // b: (n)  s: (B, n)  →  the epilogue a: (B, n) becomes a + b, and z: (B, n) = ReLU(a + b) + s
    public static Epilogue Forward(ReadOnlySpan<float> b, ReadOnlySpan<float> s, Span<float> z) => Epilogue.BiasReluPlus(b, s, z);

    // a: (B, n)  →  the epilogue on dZ: (B, n) giving dA: (B, n) = dZ where a > 0, else 0      (ReLU'(0) = 0, as in PyTorch)
    // The skip's gradient is dZ itself: the sum passes it through unchanged.
    public static Epilogue Backward(ReadOnlySpan<float> a, Span<float> dA) => Epilogue.ReluGradient(a, dA);
}
