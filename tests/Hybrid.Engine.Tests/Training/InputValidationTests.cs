using Hybrid.Engine.Kernels;
using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Reference;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>
/// What the public entry points refuse. Each refusal is an ArgumentException (or subclass) whose
/// ParamName is the argument and whose message names it with the expected and the found value.
/// </summary>
public class InputValidationTests
{
    private static readonly NetworkShape Shape = new(4, 5, 5, 3);

    private static readonly TrainingOptions Options = new() { Epochs = 2, BatchSize = 4 };

    private sealed record Refusal(Action Act, string Parameter, params string[] Fragments);

    private static readonly Dictionary<string, Refusal> Refusals = new()
    {
        // Trainer.Train: the data against the shape (rows of D = 4, labels in [0, 3))
        ["train: 3 features for D = 4"] = new(() => Train(Data(6, 3)), "train", "train:", "expected 4 features per row", "found 3"),
        ["train: label 3 of 3 classes"] = new(() => Train(Data(6, 4, label: (2, 3))), "train", "train:", "labels[2]", "expected a class in [0, 3)", "found 3"),
        ["train: label −1"] = new(() => Train(Data(6, 4, label: (5, -1))), "train", "labels[5]", "found -1"),
        ["train: NaN at the first entry"] = new(() => Train(Data(6, 4, feature: (0, 0, float.NaN))), "train", "train:", "row 0, column 0", "expected a finite number", $"found {float.NaN}"),
        ["train: NaN inside a vector"] = new(() => Train(Data(6, 4, feature: (1, 2, float.NaN))), "train", "row 1, column 2", $"found {float.NaN}"),
        ["train: +∞ in the scalar tail"] = new(() => Train(Data(7, 4, feature: (6, 3, float.PositiveInfinity))), "train", "row 6, column 3", $"found {float.PositiveInfinity}"),
        ["train: −∞"] = new(() => Train(Data(6, 4, feature: (4, 1, float.NegativeInfinity))), "train", "row 4, column 1", $"found {float.NegativeInfinity}"),
        ["validation: 5 features for D = 4"] = new(() => Train(Data(6, 4), validation: Data(3, 5)), "validation", "validation:", "expected 4 features per row", "found 5"),
        ["validation: NaN"] = new(() => Train(Data(6, 4), validation: Data(3, 4, feature: (2, 1, float.NaN))), "validation", "validation:", "row 2, column 1"),
        ["Patience without validation"] = new(() => Train(Data(6, 4), options: Options with { Patience = 3 }), "validation", "Patience", "needs validation data, found none"),

        // Trainer.Train: the options (TrainingOptions.Check, OptimizerSettings.Check, Schedule.Check)
        ["Epochs −1"] = new(() => Train(Data(6, 4), options: Options with { Epochs = -1 }), "Epochs", "Epochs: expected in [1, 1000000], found -1"),
        ["Epochs 0"] = new(() => Train(Data(6, 4), options: Options with { Epochs = 0 }), "Epochs", "found 0"),
        ["BatchSize 0"] = new(() => Train(Data(6, 4), options: Options with { BatchSize = 0 }), "BatchSize", "BatchSize: expected at least 1, found 0"),
        ["Threads 0"] = new(() => Train(Data(6, 4), options: Options with { Threads = 0 }), "Threads", "Threads: expected in [1, 256], found 0"),
        ["Patience 0"] = new(() => Train(Data(6, 4), Data(3, 4), Options with { Patience = 0 }), "Patience", "Patience: expected null or at least 1, found 0"),
        ["LearningRate 1e6"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { LearningRate = 1e6f } }), "LearningRate", "LearningRate: expected in (0, 10]", $"found {1e6f}"),
        ["LearningRate 0"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { LearningRate = 0f } }), "LearningRate", "expected in (0, 10], found 0"),
        ["LearningRate NaN"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { LearningRate = float.NaN } }), "LearningRate", $"found {float.NaN}"),
        ["Momentum 1"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { Kind = OptimizerKind.Sgd, Momentum = 1f } }), "Momentum", "Momentum: expected in [0, 1), found 1"),
        ["Nesterov without momentum"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { Kind = OptimizerKind.Sgd, Nesterov = true } }), "Nesterov", "Nesterov: expected only with a momentum above 0, found 0"),
        ["Beta1 1"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { Beta1 = 1f } }), "Beta1", "Beta1: expected in [0, 1), found 1"),
        ["Beta2 −0.5"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { Beta2 = -0.5f } }), "Beta2", "Beta2: expected in [0, 1), found -0.5"),
        ["Epsilon 0"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { Epsilon = 0f } }), "Epsilon", "Epsilon: expected finite and above 0, found 0"),
        ["WeightDecay 1"] = new(() => Train(Data(6, 4), options: Options with { Optimizer = new() { WeightDecay = 1f } }), "WeightDecay", "WeightDecay: expected in [0, 1), found 1"),
        ["warm-up as long as the run"] = new(() => Train(Data(6, 4), options: Options with { Schedule = new() { WarmupEpochs = 2 } }), "WarmupEpochs", "expected in [0, 2)", "found 2"),

        // LabeledData
        ["LabeledData: no rows"] = new(() => _ = new LabeledData([], [], 4), "labels", "expected at least one row", "found an empty data set"),
        ["LabeledData: 0 columns"] = new(() => _ = new LabeledData([], [0], 0), "columns", "columns: expected at least 1, found 0"),
        ["LabeledData: 11 features for 3 rows of 4"] = new(() => _ = new LabeledData(new float[11], new int[3], 4), "features", "features: expected 12 elements, found 11"),

        // NetworkShape
        ["NetworkShape: D 0"] = new(() => _ = new NetworkShape(0, 5, 5, 3), "d", "d: expected a width of at least 1, found 0"),
        ["NetworkShape: M 0"] = new(() => _ = new NetworkShape(4, 0, 5, 3), "m", "m: expected a width of at least 1, found 0"),
        ["NetworkShape: L −2"] = new(() => _ = new NetworkShape(4, 5, -2, 3), "l", "l: expected a width of at least 1, found -2"),
        ["NetworkShape: one class"] = new(() => _ = new NetworkShape(4, 5, 5, 1), "p", "p: expected a width of at least 2, found 1"),
        ["NetworkShape: undefined skip"] = new(() => _ = new NetworkShape(4, 5, 5, 3, (SkipKind)7), "skip", "skip: expected Dense, Diagonal or None, found 7"),

        // Network.Forward and Backward, on a network of capacity 2
        ["Forward: 7 inputs for 2 rows of 4"] = new(() => Forward(new float[7], [0, 1], 2), "x", "x: expected 8 elements, found 7"),
        ["Forward: batch 0"] = new(() => Forward([], [], 0), "batch", "batch: expected 1 to 2 rows, found 0"),
        ["Forward: batch above capacity"] = new(() => Forward(new float[12], [0, 1, 2], 3), "batch", "batch: expected 1 to 2 rows, found 3"),
        ["Forward: one label for 2 rows"] = new(() => Forward(new float[8], [0], 2), "labels", "labels: expected 2 elements, found 1"),
        ["Forward: label 3 of 3 classes"] = new(() => Forward(new float[8], [0, 3], 2), "labels", "labels[1]: expected a class in [0, 3), found 3"),
        ["Forward: NaN"] = new(() => Forward([0, 0, 0, 0, float.NaN, 0, 0, 0], [0, 1], 2), "x", "x[row 1, column 0]: expected a finite number", $"found {float.NaN}"),
        ["Forward: +∞"] = new(() => Forward([0, 0, 0, float.PositiveInfinity, 0, 0, 0, 0], [], 2), "x", "x[row 0, column 3]", $"found {float.PositiveInfinity}"),
        ["Backward: no labels"] = new(() => Backward(new float[8], [], [], 2), "labels", "labels: expected 2 labels for the backward pass, found none"),
        ["Backward: dX of 3 for 2 rows of 4"] = new(() => Backward(new float[8], [0, 1], new float[3], 2), "dX", "dX: expected 8 elements, found 3"),
        ["Backward: NaN"] = new(() => Backward([0, 0, 0, 0, 0, 0, float.NaN, 0], [0, 1], [], 2), "x", "x[row 1, column 2]"),
        ["Network: capacity 0"] = new(() => _ = new Network(Shape, NaiveKernels.Create(), 0), "capacity", "capacity: expected a batch size of at least 1, found 0"),
        ["Network: negative L2"] = new(() => _ = new Network(Shape, NaiveKernels.Create(), 2, -0.1f), "l2", "l2: expected a finite weight decay ≥ 0, found -0.1"),
    };

    public static TheoryData<string> Cases() => new(Refusals.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Refuses(string name)
    {
        var refusal = Refusals[name];
        var e = Assert.ThrowsAny<ArgumentException>(refusal.Act);
        Assert.Equal(refusal.Parameter, e.ParamName);
        foreach (var fragment in refusal.Fragments)
            Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"{name}: \"{e.Message}\" lacks \"{fragment}\"");
    }

    [Fact]
    public void The_valid_baseline_of_these_cases_trains()
    {
        var result = Trainer.Train(Shape, Data(6, 4), Data(3, 4), Options with { Patience = 1 });
        Assert.NotEmpty(result.History);
    }

    private static void Train(LabeledData train, LabeledData? validation = null, TrainingOptions? options = null) =>
        Trainer.Train(Shape, train, validation, options ?? Options);

    private static void Forward(float[] x, int[] labels, int batch) =>
        new Network(Shape, NaiveKernels.Create(), capacity: 2).Forward(x, labels, batch);

    private static void Backward(float[] x, int[] labels, float[] dX, int batch)
    {
        var network = new Network(Shape, NaiveKernels.Create(), capacity: 2);
        network.Forward(new float[8], [0, 1], 2);
        network.Backward(x, labels, dX, batch);
    }

    // rows × columns of small finite features with labels cycling through the classes, then one
    // optional bad label and one optional bad feature
    private static LabeledData Data(int rows, int columns, (int Row, int Value)? label = null, (int Row, int Column, float Value)? feature = null)
    {
        var features = Enumerable.Range(0, rows * columns).Select(i => (i % 7) / 7f).ToArray();
        var labels = Enumerable.Range(0, rows).Select(r => r % Shape.P).ToArray();
        if (label is { } l) labels[l.Row] = l.Value;
        if (feature is { } f) features[f.Row * columns + f.Column] = f.Value;
        return new LabeledData(features, labels, columns);
    }
}
