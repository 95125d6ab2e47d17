using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Training;

/// <summary>
/// Applies one update per step to the whole parameter buffer, tensor by tensor: AdamW's decoupled
/// decay reaches weights and not biases, and threads split each weight at the rows whose gradient
/// they computed. Its state has the parameters' layout.
/// </summary>
public sealed class Optimizer
{
    private readonly OptimizerSettings _settings;
    private readonly (Range Range, int Columns, bool IsWeight)[] _tensors;
    private readonly IElementwiseKernels _k;

    public Optimizer(OptimizerSettings settings, ParameterLayout layout, IElementwiseKernels kernels)
    {
        settings.Check();
        (_settings, _k) = (settings, kernels);
        _tensors = [.. layout.Tensors.Select(t => (t.Range, t.Dimensions[^1], layout.Weights.Contains(t.Range)))];
        First = new float[layout.Count];
        Second = settings.Kind == OptimizerKind.Sgd ? [] : new float[layout.Count];
    }

    /// <summary>SGD's velocity (left at zero by plain SGD, momentum 0), or Adam's first moment.</summary>
    public float[] First { get; }

    /// <summary>Adam's second moment (empty for SGD).</summary>
    public float[] Second { get; }

    /// <summary>Updates taken so far (Adam's t).</summary>
    public long Steps { get; set; }

    /// <summary>The λ the network adds to its gradient: coupled L2 for SGD and Adam, none for AdamW.</summary>
    public static float CoupledDecay(OptimizerSettings s) => s.Kind == OptimizerKind.AdamW ? 0f : s.WeightDecay;

    public void Update(Span<float> parameters, ReadOnlySpan<float> gradients, float learningRate)
    {
        Steps++;
        var s = _settings;
        foreach (var (range, columns, isWeight) in _tensors)
        {
            if (s.Kind == OptimizerKind.Sgd)
                _k.SgdStep(parameters[range], gradients[range], First.AsSpan(range), columns, learningRate, s.Momentum, s.Nesterov);
            else
                AdamStep(parameters[range], gradients[range], range, columns, isWeight, learningRate);
        }
    }

    // The bias corrections 1 − βᵗ are taken in double, as PyTorch does: in float, 1 − 0.999² is off by 7e-6.
    private void AdamStep(Span<float> p, ReadOnlySpan<float> g, Range range, int columns, bool isWeight, float learningRate)
    {
        var s = _settings;
        var decay = s.Kind == OptimizerKind.AdamW && isWeight ? s.WeightDecay : 0f;
        var c = new AdamCoefficients(learningRate, s.Beta1, s.Beta2, s.Epsilon,
            (float)(1.0 - Math.Pow(s.Beta1, Steps)), (float)(1.0 - Math.Pow(s.Beta2, Steps)), decay);
        _k.AdamStep(p, g, First.AsSpan(range), Second.AsSpan(range), columns, c);
    }
}
