using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Training;

/// <summary>
/// Applies one update per step to the whole parameter buffer, tensor by tensor so that AdamW's
/// decoupled decay reaches weights and not biases. Its state has the parameters' layout.
/// </summary>
public sealed class Optimizer
{
    private readonly OptimizerSettings _settings;
    private readonly ParameterLayout _layout;
    private readonly IElementwiseKernels _k;

    public Optimizer(OptimizerSettings settings, ParameterLayout layout, IElementwiseKernels kernels)
    {
        settings.Check();
        (_settings, _layout, _k) = (settings, layout, kernels);
        First = new float[layout.Count];
        Second = settings.Kind == OptimizerKind.Sgd ? [] : new float[layout.Count];
    }

    /// <summary>SGD's velocity, or Adam's first moment.</summary>
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
        if (_settings.Kind == OptimizerKind.Sgd)
            _k.SgdStep(parameters, gradients, First, learningRate, _settings.Momentum, _settings.Nesterov);
        else
            foreach (var (_, range, _) in _layout.Tensors)
                AdamStep(parameters[range], gradients[range], range, learningRate);
    }

    private void AdamStep(Span<float> p, ReadOnlySpan<float> g, Range range, float learningRate)
    {
        var s = _settings;
        var isWeight = _layout.Weights.Contains(range);
        var decay = s.Kind == OptimizerKind.AdamW && isWeight ? s.WeightDecay : 0f;
        var c = new AdamCoefficients(learningRate, s.Beta1, s.Beta2, s.Epsilon,
            1f - MathF.Pow(s.Beta1, Steps), 1f - MathF.Pow(s.Beta2, Steps), decay);
        _k.AdamStep(p, g, First.AsSpan(range), Second.AsSpan(range), c);
    }
}
