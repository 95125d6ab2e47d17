using Hybrid.Engine.Layers;

namespace Hybrid.Engine.Model;

/// <summary>
/// The documented starting point (docs/backprop.md, "Initialization"): Glorot uniform for the tanh
/// layer, He normal for the layers fed by ReLU, zero biases, and the skip as the identity so that
/// the dense and diagonal models start as the same function. Draws come from one seed, in the
/// order W1, W2, W3.
/// </summary>
public static class Initialization
{
    public static void Initialize(ParameterLayout layout, Span<float> parameters, ulong seed)
    {
        var shape = layout.Shape;
        var rng = new Rng(seed);
        parameters.Clear();
        GlorotUniform(rng, parameters[layout.W1], fanIn: shape.D, fanOut: shape.M);
        HeNormal(rng, parameters[layout.W2], fanIn: shape.M);
        HeNormal(rng, parameters[layout.W3], fanIn: shape.L);
        Identity(shape, parameters[layout.Skip]);
    }

    private static void GlorotUniform(Rng rng, Span<float> w, int fanIn, int fanOut)
    {
        var limit = Math.Sqrt(6.0 / (fanIn + fanOut));
        for (var i = 0; i < w.Length; i++)
            w[i] = (float)((2.0 * rng.NextDouble() - 1.0) * limit);
    }

    private static void HeNormal(Rng rng, Span<float> w, int fanIn)
    {
        var std = Math.Sqrt(2.0 / fanIn);
        for (var i = 0; i < w.Length; i++)
            w[i] = (float)(rng.NextGaussian() * std);
    }

    // Dense: Ws[j, j] = 1 for j < min(L, D); diagonal: ws = 1; none: nothing to set.
    private static void Identity(NetworkShape shape, Span<float> skip)
    {
        if (shape.Skip == SkipKind.Dense)
            for (var j = 0; j < shape.DiagonalWidth; j++) skip[j * shape.D + j] = 1f;
        else
            skip.Fill(1f);
    }
}
