using Hybrid.Engine.Kernels;
using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Reference;
using Hybrid.Engine.Tests.Kernels;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>
/// Each optimizer, over a few steps on a whole parameter layout, against PyTorch's update rules
/// written out in double precision. Runs against both element-wise kernel sets.
/// </summary>
public abstract class OptimizerContract
{
    // Errors are measured against max(|p|, lr). SGD is a few float roundings (≈6e-8 each) on terms
    // up to a few times that scale: ≤ 3e-7 observed over three steps, so 1e-6.
    private const double SgdTolerance = 1e-6;

    // Adam's bias corrections 1 − βᵗ are formed in double and rounded once to float (Optimizer.AdamStep),
    // so the step carries only float rounding, as SGD's does; a sign error, a dropped bias correction or
    // decay on a bias moves p by ≥ 1e-2 of lr here.
    private const double AdamTolerance = 1e-6;

    // p·(1 − lr·λ) in float is two roundings away from the double product; a missed decay is off by lr·λ = 1e-2.
    private const double DecayTolerance = 1e-6;

    private const float LearningRate = 0.1f;

    protected abstract IElementwiseKernels CreateKernels();

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var optimizer in Settings.Keys)
            foreach (var layout in Layouts.Keys)
                data.Add(optimizer, layout);
        return data;
    }

    public static TheoryData<SkipKind> SkipKinds() => new(SkipKind.Dense, SkipKind.Diagonal, SkipKind.None);

    internal static readonly Dictionary<string, OptimizerSettings> Settings = new()
    {
        ["SGD"] = new() { Kind = OptimizerKind.Sgd, LearningRate = LearningRate },
        ["SGD momentum"] = new() { Kind = OptimizerKind.Sgd, LearningRate = LearningRate, Momentum = 0.9f },
        ["SGD Nesterov"] = new() { Kind = OptimizerKind.Sgd, LearningRate = LearningRate, Momentum = 0.9f, Nesterov = true },
        ["Adam"] = new() { Kind = OptimizerKind.Adam, LearningRate = LearningRate, WeightDecay = 0.1f },
        ["AdamW"] = new() { Kind = OptimizerKind.AdamW, LearningRate = LearningRate, WeightDecay = 0.1f },
    };

    // The 2-3-2-2 layouts have no tensor of 8 floats, so Adam (tensor by tensor) runs only scalar
    // tails there; 5-7-6-3 has tensors of 30 to 42 floats, which take the vector path too.
    internal static readonly Dictionary<string, NetworkShape> Layouts = new()
    {
        ["2-3-2-2 Dense"] = new(2, 3, 2, 2, SkipKind.Dense),
        ["2-3-2-2 Diagonal"] = new(2, 3, 2, 2, SkipKind.Diagonal),
        ["2-3-2-2 None"] = new(2, 3, 2, 2, SkipKind.None),
        ["5-7-6-3 Dense"] = new(5, 7, 6, 3, SkipKind.Dense),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Three_steps_match_the_double_precision_rule(string optimizer, string layoutName)
    {
        var settings = Settings[optimizer];
        var layout = new ParameterLayout(Layouts[layoutName]);
        var rng = new Rng(11);
        var parameters = Draw(rng, layout.Count, 1.0);
        var expected = new ReferenceOptimizer(settings, layout, parameters);
        var sut = new Optimizer(settings, layout, CreateKernels());
        for (var step = 1; step <= 3; step++)
        {
            var gradients = Draw(rng, layout.Count, 0.5);
            expected.Update(gradients, LearningRate);
            sut.Update(parameters, gradients, LearningRate);
            var tolerance = settings.Kind == OptimizerKind.Sgd ? SgdTolerance : AdamTolerance;
            for (var i = 0; i < parameters.Length; i++)
            {
                var scale = Math.Max(Math.Abs(expected.Parameters[i]), LearningRate);
                Assert.True(Math.Abs(parameters[i] - expected.Parameters[i]) <= tolerance * scale,
                    $"{optimizer} on {layoutName}, step {step}, θ[{i}]: float {parameters[i]:R} vs double {expected.Parameters[i]:R}");
            }
        }
        Assert.Equal(3, sut.Steps);
    }

    [Theory]
    [MemberData(nameof(SkipKinds))]
    public void AdamW_decays_every_weight_and_no_bias(SkipKind skip)
    {
        // With a zero gradient Adam's own step is 0/(0 + ε) = 0, leaving only the decoupled decay.
        var settings = Settings["AdamW"];
        var layout = new ParameterLayout(new NetworkShape(2, 3, 2, 2, skip));
        var parameters = Draw(new Rng(3), layout.Count, 1.0);
        var before = (float[])parameters.Clone();
        new Optimizer(settings, layout, CreateKernels()).Update(parameters, new float[layout.Count], LearningRate);
        foreach (var (name, range, _) in layout.Tensors)
            for (var i = range.Start.Value; i < range.End.Value; i++)
            {
                var expected = IsBias(name) ? before[i] : before[i] * (1.0 - (double)LearningRate * settings.WeightDecay);
                Assert.True(Math.Abs(parameters[i] - expected) <= DecayTolerance * Math.Abs(before[i]),
                    $"{name}[{i - range.Start.Value}] ({(IsBias(name) ? "bias" : "weight")}): {before[i]:R} → {parameters[i]:R}, expected {expected:R}");
            }
    }

    [Fact]
    public void Coupled_decay_is_left_to_the_network()
    {
        // Adam's weight decay is L2 added to the gradient by the network, so the optimizer itself
        // must not shrink anything: a zero gradient leaves every parameter as it was.
        var layout = new ParameterLayout(new NetworkShape(2, 3, 2, 2, SkipKind.Dense));
        var parameters = Draw(new Rng(3), layout.Count, 1.0);
        var before = (float[])parameters.Clone();
        new Optimizer(Settings["Adam"], layout, CreateKernels()).Update(parameters, new float[layout.Count], LearningRate);
        Assert.Equal(before, parameters);
    }

    // b1, b2, b3: the tensors that weight decay must never touch (docs/backprop.md §6).
    internal static bool IsBias(string tensor) => tensor.StartsWith('b');

    internal static float[] Draw(Rng rng, int count, double scale)
    {
        var values = new float[count];
        for (var i = 0; i < count; i++) values[i] = (float)(rng.NextGaussian() * scale);
        return values;
    }
}

public class FastOptimizerTests : OptimizerContract
{
    protected override IElementwiseKernels CreateKernels() => new FastElementwise();
}

public class FastTwoThreadOptimizerTests : OptimizerContract
{
    protected override IElementwiseKernels CreateKernels() => new FastElementwise(FastElementwiseTwoThreadTests.Pool, parallelThreshold: 1);
}

public class NaiveOptimizerTests : OptimizerContract
{
    protected override IElementwiseKernels CreateKernels() => new NaiveElementwise();
}

/// <summary>The two kernel sets run the same arithmetic, so their optimizers agree to a few roundings.</summary>
public class FastAndNaiveOptimizersAgree
{
    // SGD runs the same operations in both (bit-identical today). Fast Adam multiplies by 1/c where
    // naive divides by c, one rounding apart, and ten steps of that through 1/√v̂ reach ≤ 6e-7 of
    // max(|p|, lr). 2e-6 allows that; any real difference in the rule is ≥ 1e-3.
    private const double KernelAgreementTolerance = 2e-6;

    public static TheoryData<string> Optimizers() => new(OptimizerContract.Settings.Keys);

    [Theory]
    [MemberData(nameof(Optimizers))]
    public void Ten_steps_agree(string optimizer)
    {
        var settings = OptimizerContract.Settings[optimizer];
        var layout = new ParameterLayout(OptimizerContract.Layouts["5-7-6-3 Dense"]);
        var start = OptimizerContract.Draw(new Rng(5), layout.Count, 1.0);
        var (fast, naive) = ((float[])start.Clone(), (float[])start.Clone());
        var fastOptimizer = new Optimizer(settings, layout, new FastElementwise());
        var naiveOptimizer = new Optimizer(settings, layout, new NaiveElementwise());
        var rng = new Rng(6);
        for (var step = 0; step < 10; step++)
        {
            var gradients = OptimizerContract.Draw(rng, layout.Count, 0.5);
            fastOptimizer.Update(fast, gradients, settings.LearningRate);
            naiveOptimizer.Update(naive, gradients, settings.LearningRate);
        }
        for (var i = 0; i < fast.Length; i++)
            Assert.True(Math.Abs(fast[i] - naive[i]) <= KernelAgreementTolerance * Math.Max(Math.Abs(naive[i]), settings.LearningRate),
                $"{optimizer}, θ[{i}]: fast {fast[i]:R} vs naive {naive[i]:R}");
    }
}

/// <summary>
/// PyTorch's SGD (dampening 0), Adam and AdamW in double, from the same float hyperparameters:
/// SGD v ← μv + g, p ← p − lr·(g + μv) (Nesterov) or p − lr·v;
/// Adam m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε);
/// AdamW also p ← p − lr·λ·p on weights (never biases), with the p from before the step.
/// </summary>
internal sealed class ReferenceOptimizer
{
    private readonly OptimizerSettings _s;
    private readonly bool[] _decays;
    private readonly double[] _first;
    private readonly double[] _second;
    private int _t;

    public ReferenceOptimizer(OptimizerSettings settings, ParameterLayout layout, float[] parameters)
    {
        _s = settings;
        Parameters = parameters.Select(p => (double)p).ToArray();
        _first = new double[parameters.Length];
        _second = new double[parameters.Length];
        _decays = new bool[parameters.Length];
        foreach (var (name, range, _) in layout.Tensors)
            _decays.AsSpan(range).Fill(settings.Kind == OptimizerKind.AdamW && !OptimizerContract.IsBias(name));
    }

    public double[] Parameters { get; }

    public void Update(float[] gradients, double lr)
    {
        _t++;
        for (var i = 0; i < Parameters.Length; i++)
        {
            double g = gradients[i];
            if (_s.Kind == OptimizerKind.Sgd)
            {
                _first[i] = _s.Momentum * _first[i] + g;
                Parameters[i] -= lr * (_s.Nesterov ? g + _s.Momentum * _first[i] : _first[i]);
                continue;
            }
            double β1 = _s.Beta1, β2 = _s.Beta2;
            _first[i] = β1 * _first[i] + (1 - β1) * g;
            _second[i] = β2 * _second[i] + (1 - β2) * g * g;
            var mHat = _first[i] / (1 - Math.Pow(β1, _t));
            var vHat = _second[i] / (1 - Math.Pow(β2, _t));
            var decay = _decays[i] ? lr * _s.WeightDecay * Parameters[i] : 0.0;
            Parameters[i] -= lr * mHat / (Math.Sqrt(vHat) + _s.Epsilon) + decay;
        }
    }
}
