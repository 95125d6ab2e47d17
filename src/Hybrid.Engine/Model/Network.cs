using Hybrid.Engine.Kernels;
using Hybrid.Engine.Layers;

namespace Hybrid.Engine.Model;

/// <summary>
/// The seed's network on row-major mini-batches:
/// A1 = X·W1ᵀ + b1, Z1 = tanh(A1); A2 = Z1·W2ᵀ + b2, Z2 = ReLU(A2) + skip(X); A3 = Z2·W3ᵀ + b3,
/// Y = softmax(A3); ℓ = mean cross-entropy + (λ/2)·Σ‖W‖². Backward reads as Forward reversed.
/// </summary>
public sealed class Network
{
    private readonly KernelSet _k;
    private readonly (Range Range, int Columns)[] _weights;

    /// <param name="l2">coupled L2 weight decay λ on every weight (the skip included, no bias); 0 for none</param>
    public Network(NetworkShape shape, KernelSet kernels, int capacity, float l2 = 0f)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(kernels);
        if (capacity < 1)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"capacity: expected a batch size of at least 1, found {capacity}");
        if (!float.IsFinite(l2) || l2 < 0f)
            throw new ArgumentOutOfRangeException(nameof(l2), l2, $"l2: expected a finite weight decay ≥ 0, found {l2}");
        Shape = shape;
        Layout = new ParameterLayout(shape);
        Parameters = new float[Layout.Count];
        Gradients = new float[Layout.Count];
        Activations = new Activations(shape, capacity);
        L2 = l2;
        _k = kernels;
        _weights = [.. Layout.Tensors.Where(t => Layout.Weights.Contains(t.Range)).Select(t => (t.Range, t.Dimensions[^1]))];
    }

    public NetworkShape Shape { get; }

    public ParameterLayout Layout { get; }

    /// <summary>All parameters in one buffer, laid out by <see cref="Layout"/>.</summary>
    public float[] Parameters { get; }

    /// <summary>∂ℓ/∂θ, laid out like <see cref="Parameters"/>; <see cref="Backward"/> adds into it.</summary>
    public float[] Gradients { get; }

    public Activations Activations { get; }

    public float L2 { get; }

    /// <summary>The largest batch this network's workspace holds.</summary>
    public int Capacity => Activations.Capacity;

    // x: (B, D)  labels: (B) or empty  →  returns the mean cross-entropy (0 without labels); Y: Probabilities(B)
    public double Forward(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, int batch)
    {
        InputChecks.Batch(x, labels, batch, Shape, Capacity);
        return ForwardUnchecked(x, labels, batch);
    }

    // x: (B, D)  labels: (B)  →  Gradients += ∂ℓ/∂θ;  dX: (B, D) = ∂ℓ/∂x, or empty for none
    // Needs the activations of a Forward on the same batch.
    public void Backward(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, Span<float> dX, int batch)
    {
        InputChecks.Batch(x, labels, batch, Shape, Capacity);
        InputChecks.Labelled(labels, batch);
        if (!dX.IsEmpty) InputChecks.Length(dX.Length, batch * Shape.D, nameof(dX));
        BackwardUnchecked(x, labels, dX, batch);
    }

    /// <summary>(B, P): the class probabilities of the last forward pass.</summary>
    public ReadOnlySpan<float> Probabilities(int batch) => Activations.Y(batch);

    public void ZeroGradients() => _k.Elementwise.Clear(Gradients);

    internal double ForwardUnchecked(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, int batch)
    {
        var (s, p, a) = (Shape, Layout, Activations);
        var θ = Parameters.AsSpan();
        Linear.Forward(_k, x, θ[p.W1], a.Z1(batch), batch, s.D, s.M, Tanh.Forward(θ[p.B1]));
        Skip.Forward(_k, s.Skip, x, θ[p.Skip], a.S(batch), batch, s.D, s.L);
        Linear.Forward(_k, a.Z1(batch), θ[p.W2], a.A2(batch), batch, s.M, s.L, Relu.Forward(θ[p.B2], a.S(batch), a.Z2(batch)));
        Linear.Forward(_k, a.Z2(batch), θ[p.W3], a.Y(batch), batch, s.L, s.P);
        var loss = SoftmaxCrossEntropy.Forward(_k, a.Y(batch), θ[p.B3], labels, batch);
        return loss / batch;
    }

    /// <summary>The objective Backward differentiates: the mean cross-entropy of the last Forward plus (λ/2)·Σ w².</summary>
    public double Objective(double meanCrossEntropy) => meanCrossEntropy + WeightPenalty();

    // accumulate false overwrites Gradients instead of adding to them: every range is written.
    internal void BackwardUnchecked(ReadOnlySpan<float> x, ReadOnlySpan<int> labels, Span<float> dX, int batch, bool accumulate = true)
    {
        var (s, p, a) = (Shape, Layout, Activations);
        Span<float> θ = Parameters, g = Gradients;
        a.ClearGradients(batch);
        dX.Clear();
        SoftmaxCrossEntropy.Backward(_k, a.Y(batch), labels, a.DA3(batch), batch);
        Linear.Backward(_k, a.DA3(batch), a.Z2(batch), θ[p.W3], a.DZ2(batch), g[p.W3], g[p.B3], batch, s.L, s.P, accumulate,
            Relu.Backward(a.A2(batch), a.DA2(batch)));
        Skip.Backward(_k, s.Skip, a.DZ2(batch), x, θ[p.Skip], dX, g[p.Skip], batch, s.D, s.L, accumulate);
        Linear.Backward(_k, a.DA2(batch), a.Z1(batch), θ[p.W2], a.DZ1(batch), g[p.W2], g[p.B2], batch, s.M, s.L, accumulate,
            Tanh.Backward(a.Z1(batch), a.DA1(batch)));
        Linear.Backward(_k, a.DA1(batch), x, θ[p.W1], dX, g[p.W1], g[p.B1], batch, s.D, s.M, accumulate);
        AddWeightPenaltyGradient();
    }

    // (λ/2)·Σ w² over every weight, summed in double
    private double WeightPenalty()
    {
        if (L2 == 0f) return 0.0;
        var sum = 0.0;
        foreach (var (range, _) in _weights)
            foreach (var w in Parameters.AsSpan(range))
                sum += (double)w * w;
        return 0.5 * L2 * sum;
    }

    private void AddWeightPenaltyGradient()
    {
        if (L2 == 0f) return;
        foreach (var (range, columns) in _weights)
            _k.Elementwise.AddScaled(Gradients.AsSpan(range), Parameters.AsSpan(range), columns, L2);
    }
}
