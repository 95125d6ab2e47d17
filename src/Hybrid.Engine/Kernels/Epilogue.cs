namespace Hybrid.Engine.Kernels;

/// <summary>The element-wise pass a product's result goes through before the product returns.</summary>
public enum EpilogueKind
{
    /// <summary>The product alone.</summary>
    None,

    /// <summary>c ← tanh(c + bias): the first hidden layer.</summary>
    BiasTanh,

    /// <summary>c ← c + bias, then output = ReLU(c) + operand: the second hidden layer and the skip.</summary>
    BiasReluPlus,

    /// <summary>output = c ⊙ (1 − operand²): the gradient through tanh, given its output.</summary>
    TanhGradient,

    /// <summary>output = c where operand &gt; 0, else 0: the gradient through ReLU, given its input.</summary>
    ReluGradient,
}

/// <summary>
/// The activation (or its gradient) that follows a product, run as the product's epilogue. The fast
/// products run it on each thread's own rectangle of c as soon as that rectangle is complete, while
/// it is still in that core's cache; the naive ones run it after the whole product, through the naive
/// element-wise kernels (<see cref="Apply"/>). Both use the element-wise kernels' own operations, so a
/// fused epilogue gives the bits of the separate pass.
/// </summary>
public readonly ref struct Epilogue
{
    private Epilogue(EpilogueKind kind, ReadOnlySpan<float> bias, ReadOnlySpan<float> operand, Span<float> output)
    {
        Kind = kind;
        Bias = bias;
        Operand = operand;
        Output = output;
    }

    public EpilogueKind Kind { get; }

    /// <summary>(n), or empty.</summary>
    public ReadOnlySpan<float> Bias { get; }

    /// <summary>(m, n), or empty.</summary>
    public ReadOnlySpan<float> Operand { get; }

    /// <summary>(m, n), or empty when c itself is the result.</summary>
    public Span<float> Output { get; }

    // bias: (n)  →  c: (m, n) becomes tanh(c + bias)
    public static Epilogue BiasTanh(ReadOnlySpan<float> bias) => new(EpilogueKind.BiasTanh, bias, [], []);

    // bias: (n)  s: (m, n)  →  c: (m, n) becomes c + bias;  z: (m, n) = ReLU(c + bias) + s
    public static Epilogue BiasReluPlus(ReadOnlySpan<float> bias, ReadOnlySpan<float> s, Span<float> z) =>
        new(EpilogueKind.BiasReluPlus, bias, s, z);

    // c = dZ: (m, n)  z: (m, n)  →  dA: (m, n) = dZ ⊙ (1 − z²)
    public static Epilogue TanhGradient(ReadOnlySpan<float> z, Span<float> dA) => new(EpilogueKind.TanhGradient, [], z, dA);

    // c = dZ: (m, n)  a: (m, n)  →  dA: (m, n) = dZ where a > 0, else 0
    public static Epilogue ReluGradient(ReadOnlySpan<float> a, Span<float> dA) => new(EpilogueKind.ReluGradient, [], a, dA);

    /// <summary>Runs the epilogue on all of c (m × n) as separate element-wise passes of <paramref name="k"/>.</summary>
    public void Apply(IElementwiseKernels k, Span<float> c, int m, int n)
    {
        ArgumentNullException.ThrowIfNull(k);
        var all = m * n;
        switch (Kind)
        {
            case EpilogueKind.None:
                break;
            case EpilogueKind.BiasTanh:
                k.BiasTanh(c[..all], Bias, c[..all], m);
                break;
            case EpilogueKind.BiasReluPlus:
                k.BiasReluPlus(c[..all], Bias, Operand[..all], Output[..all], m);
                break;
            case EpilogueKind.TanhGradient:
                k.TanhBackward(c[..all], Operand[..all], Output[..all]);
                break;
            case EpilogueKind.ReluGradient:
                k.ReluBackward(c[..all], Operand[..all], Output[..all]);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown epilogue");
        }
    }

    /// <summary>Checks the epilogue's buffers against a product with an (m × n) result.</summary>
    internal void Validate(int m, int n)
    {
        var needsBias = Kind is EpilogueKind.BiasTanh or EpilogueKind.BiasReluPlus;
        var needsOperand = Kind is EpilogueKind.BiasReluPlus or EpilogueKind.TanhGradient or EpilogueKind.ReluGradient;
        if (needsBias && Bias.Length != n)
            throw new ArgumentException($"epilogue bias: expected {n} elements (one per column of c), found {Bias.Length}", "epilogue");
        if (needsOperand)
        {
            Shapes.Require(Operand, m * n, "epilogue operand");
            Shapes.Require(Output, m * n, "epilogue output");
        }
    }
}
