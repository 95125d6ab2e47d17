using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Layers;

/// <summary>
/// The first hidden layer's activation, with the preceding linear layer's bias fused in. It runs as
/// the epilogue of the product that computes its input, on each core's share of it.
/// </summary>
public static class Tanh
{
    // b: (n)  →  the epilogue a: (B, n) becomes z = tanh(a + b)
    public static Epilogue Forward(ReadOnlySpan<float> b) => Epilogue.BiasTanh(b);

    // z: (B, n)  →  the epilogue on dZ: (B, n) giving dA: (B, n) = dZ ⊙ (1 − z²)      (tanh' from its output: no need to keep a)
    public static Epilogue Backward(ReadOnlySpan<float> z, Span<float> dA) => Epilogue.TanhGradient(z, dA);
}
