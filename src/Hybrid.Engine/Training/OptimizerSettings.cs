namespace Hybrid.Engine.Training;

public enum OptimizerKind
{
    /// <summary>Stochastic gradient descent, with optional (Nesterov) momentum; weight decay is coupled L2.</summary>
    Sgd,

    /// <summary>Adam (Kingma &amp; Ba); weight decay is coupled L2, added to the gradient.</summary>
    Adam,

    /// <summary>AdamW (Loshchilov &amp; Hutter): weight decay decoupled from the gradient, applied to weights only.</summary>
    AdamW,
}

/// <summary>An optimizer and its hyperparameters. Defaults follow PyTorch's.</summary>
public sealed record OptimizerSettings
{
    public OptimizerKind Kind { get; init; } = OptimizerKind.Adam;

    public float LearningRate { get; init; } = 1e-3f;

    /// <summary>SGD only.</summary>
    public float Momentum { get; init; }

    /// <summary>SGD only; needs a momentum above 0.</summary>
    public bool Nesterov { get; init; }

    public float Beta1 { get; init; } = 0.9f;

    public float Beta2 { get; init; } = 0.999f;

    public float Epsilon { get; init; } = 1e-8f;

    /// <summary>λ: coupled L2 for SGD and Adam, decoupled for AdamW. Never applied to biases.</summary>
    public float WeightDecay { get; init; }

    public void Check()
    {
        Require(LearningRate > 0f && LearningRate <= 10f, nameof(LearningRate), "in (0, 10]", LearningRate);
        Require(Momentum >= 0f && Momentum < 1f, nameof(Momentum), "in [0, 1)", Momentum);
        Require(!Nesterov || Momentum > 0f, nameof(Nesterov), "only with a momentum above 0", Momentum);
        Require(Beta1 >= 0f && Beta1 < 1f, nameof(Beta1), "in [0, 1)", Beta1);
        Require(Beta2 >= 0f && Beta2 < 1f, nameof(Beta2), "in [0, 1)", Beta2);
        Require(Epsilon > 0f && float.IsFinite(Epsilon), nameof(Epsilon), "finite and above 0", Epsilon);
        Require(WeightDecay >= 0f && WeightDecay < 1f, nameof(WeightDecay), "in [0, 1)", WeightDecay);
    }

    internal static void Require(bool ok, string name, string expected, object found)
    {
        if (!ok) throw new ArgumentOutOfRangeException(name, found, $"{name}: expected {expected}, found {found}");
    }
}
