namespace Hybrid.Engine.Model;

/// <summary>
/// Every intermediate of one forward and backward pass, as views over one buffer sized for the
/// largest batch, so a training step allocates nothing.
/// </summary>
public sealed class Activations
{
    private readonly float[] _buffer;
    private readonly NetworkShape _shape;
    private readonly int[] _offsets;

    public Activations(NetworkShape shape, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _shape = shape;
        Capacity = capacity;
        int[] widths = [shape.M, shape.L, shape.L, shape.L, shape.P, shape.P, shape.L, shape.L, shape.M, shape.M];
        _offsets = new int[widths.Length + 1];
        for (var i = 0; i < widths.Length; i++)
            _offsets[i + 1] = checked(_offsets[i] + widths[i] * capacity);
        _buffer = new float[_offsets[^1]];
    }

    public int Capacity { get; }

    /// <summary>(B, M): A1, then Z1 = tanh(A1 + b1) in place.</summary>
    public Span<float> Z1(int batch) => View(0, batch, _shape.M);

    /// <summary>(B, L): A2 + b2, kept for ReLU's backward.</summary>
    public Span<float> A2(int batch) => View(1, batch, _shape.L);

    /// <summary>(B, L): the skip's output S.</summary>
    public Span<float> S(int batch) => View(2, batch, _shape.L);

    /// <summary>(B, L): Z2 = ReLU(A2) + S.</summary>
    public Span<float> Z2(int batch) => View(3, batch, _shape.L);

    /// <summary>(B, P): A3, then Y = softmax(A3 + b3) in place.</summary>
    public Span<float> Y(int batch) => View(4, batch, _shape.P);

    /// <summary>(B, P): ∂ℓ/∂A3.</summary>
    public Span<float> DA3(int batch) => View(5, batch, _shape.P);

    /// <summary>(B, L): ∂ℓ/∂Z2.</summary>
    public Span<float> DZ2(int batch) => View(6, batch, _shape.L);

    /// <summary>(B, L): ∂ℓ/∂A2.</summary>
    public Span<float> DA2(int batch) => View(7, batch, _shape.L);

    /// <summary>(B, M): ∂ℓ/∂Z1.</summary>
    public Span<float> DZ1(int batch) => View(8, batch, _shape.M);

    /// <summary>(B, M): ∂ℓ/∂A1.</summary>
    public Span<float> DA1(int batch) => View(9, batch, _shape.M);

    /// <summary>Clears the gradients the backward pass adds into.</summary>
    public void ClearGradients(int batch)
    {
        DA3(batch).Clear();
        DZ2(batch).Clear();
        DZ1(batch).Clear();
    }

    private Span<float> View(int index, int batch, int width) => _buffer.AsSpan(_offsets[index], batch * width);
}
