namespace Hybrid

open Hybrid.Engine.Kernels
open Hybrid.Engine.Model
open Hybrid.Engine.Training

// The engine's kinds under the library's namespace, so a script needs only `open Hybrid`: the
// engine's namespaces hold a `Skip` layer, an `Optimizer` and a `Schedule` class, which would hide
// the settings of those names wherever they are opened after Hybrid.

/// How the input reaches the second hidden layer: Dense, Diagonal or None.
type SkipKind = Hybrid.Engine.Layers.SkipKind

/// SGD (with momentum or Nesterov), Adam or AdamW.
type OptimizerKind = Hybrid.Engine.Training.OptimizerKind

/// How the learning rate changes over epochs: constant, step, cosine, or linear warm-up.
type ScheduleKind = Hybrid.Engine.Training.ScheduleKind

/// Which epoch's weights a run keeps: the one of lowest validation loss, or of highest accuracy.
type KeepRule = Hybrid.Engine.Training.KeepRule

/// Everything that decides one training run, as one flat record: each field is a setting a sweep
/// can vary. The engine's option types are built from it at the boundary.
type Settings = {
    M: int
    L: int
    Skip: SkipKind
    Optimizer: OptimizerKind
    LearningRate: float
    /// SGD only.
    Momentum: float
    /// SGD only; needs a momentum above 0.
    Nesterov: bool
    /// Coupled L2 for SGD and Adam, decoupled for AdamW; never on biases.
    WeightDecay: float
    Schedule: ScheduleKind
    WarmupEpochs: int
    BatchSize: int
    Epochs: int
    /// Which epoch's weights are kept: lowest validation loss (the default) or highest accuracy.
    Keep: KeepRule
    /// Early stopping on the keep rule's figure; None trains every epoch (keeping the best one).
    Patience: int option
    Seed: uint64
    /// Threads for the engine's matrix products; results are bit-identical for every count.
    Threads: int
}

/// A trained network with everything needed to use it elsewhere: its parameters in the engine's
/// layout, the preprocessing fitted on its training data, its class names, and how it was made.
type Model = {
    Shape: NetworkShape
    Parameters: float32[]
    ClassNames: string[]
    Preprocessing: Scaler option
    Seed: uint64
    Optimizer: string
    Epoch: int
}

[<RequireQualifiedAccess>]
module Settings =

    /// Defaults that reach ≥ 96% on digits and ≥ 95% on iris in a few seconds (asserted in the tests).
    let defaults = {
        M = 64
        L = 32
        Skip = SkipKind.Dense
        Optimizer = OptimizerKind.Adam
        LearningRate = 3e-3
        Momentum = 0.0
        Nesterov = false
        WeightDecay = 0.0
        Schedule = ScheduleKind.Constant
        WarmupEpochs = 0
        BatchSize = 32
        Epochs = 100
        Keep = KeepRule.LowestValidationLoss
        Patience = Some 15
        Seed = 0UL
        Threads = 1
    }

    /// The engine's options for these settings.
    let trainingOptions (s: Settings) =
        TrainingOptions(
            Epochs = s.Epochs,
            BatchSize = s.BatchSize,
            Seed = s.Seed,
            Threads = s.Threads,
            Optimizer =
                OptimizerSettings(
                    Kind = s.Optimizer,
                    LearningRate = float32 s.LearningRate,
                    Momentum = float32 s.Momentum,
                    Nesterov = s.Nesterov,
                    WeightDecay = float32 s.WeightDecay
                ),
            Schedule = Schedule(Kind = s.Schedule, WarmupEpochs = s.WarmupEpochs),
            Keep = s.Keep,
            Patience = Option.toNullable s.Patience
        )

[<RequireQualifiedAccess>]
module Model =

    let private labeled (data: Dataset) = LabeledData(data.Features, data.Labels, data.Columns)

    /// The network's shape for these settings on this data: one output per class name of the training part.
    let shape (settings: Settings) (train: Dataset) =
        if train.ClassNames.Length < 2 then
            invalidArg
                (nameof train)
                (sprintf
                    "%s has %d class (%s): a classifier needs at least 2"
                    train.Name
                    train.ClassNames.Length
                    (String.concat ", " train.ClassNames))

        NetworkShape(train.Columns, settings.M, settings.L, train.ClassNames.Length, settings.Skip)

    /// Trains on data already preprocessed by `scaler` (fitted on the training part only), with early
    /// stopping on the validation part; `onEpoch` sees every epoch's checkpoint and `resume` continues one.
    let train
        (settings: Settings)
        (scaler: Scaler)
        (train: Dataset)
        (validation: Dataset)
        onEpoch
        (resume: TrainingCheckpoint option)
        =
        // A label is an index into the class names, so parts with other names would silently mean
        // other classes. Parts of one split share them, classes absent from a part included.
        if validation.ClassNames <> train.ClassNames then
            invalidArg
                (nameof validation)
                (sprintf
                    "the validation part's classes (%s) are not the training part's (%s): split one data set so the parts share them"
                    (String.concat ", " validation.ClassNames)
                    (String.concat ", " train.ClassNames))

        let shape = shape settings train

        let result =
            Trainer.Train(
                shape,
                labeled train,
                labeled validation,
                Settings.trainingOptions settings,
                onEpoch,
                Option.toObj resume
            )

        let model = {
            Shape = shape
            Parameters = result.Parameters
            ClassNames = train.ClassNames
            Preprocessing = Some scaler
            Seed = settings.Seed
            Optimizer = string settings.Optimizer
            Epoch = result.KeptEpoch
        }

        model, result

    /// Fits standardization on the training part only, trains with early stopping on the
    /// validation part, and returns the model with the engine's full result (history, stop reason).
    let fit (settings: Settings) (split: Split) : Model * TrainingResult =
        let scaler = Standardize.fit split.Train
        train settings scaler (Scaler.apply scaler split.Train) (Scaler.apply scaler split.Validation) null None

    let private withNetwork (model: Model) capacity (use': Network -> 'a) =
        use kernels = KernelSet.Fast 1
        let network = Network(model.Shape, kernels, capacity)
        model.Parameters.CopyTo(network.Parameters, 0)
        use' network

    let private prepared (model: Model) (data: Dataset) =
        model.Preprocessing |> Option.fold (fun d scaler -> Scaler.apply scaler d) data

    /// (rows, P) class probabilities, with the model's own preprocessing applied first.
    let probabilities (model: Model) (data: Dataset) : float32[] =
        let input = prepared model data
        withNetwork model 256 (fun network -> Evaluation.PredictProbabilities(network, input.Features, input.Rows))

    /// The most probable class of every row.
    let predict (model: Model) (data: Dataset) : int[] =
        let p = model.Shape.P

        probabilities model data
        |> Array.chunkBySize p
        |> Array.map (fun row -> Evaluation.ArgMax(row))

    /// Mean cross-entropy and accuracy on labelled data, with the model's preprocessing. Data whose
    /// class names are not the model's is refused: its labels would index other classes.
    let evaluate (model: Model) (data: Dataset) : float * float =
        if data.ClassNames <> model.ClassNames then
            let names (classes: string[]) = String.concat ", " classes

            invalidArg
                (nameof data)
                (sprintf
                    "%s's classes (%s) are not the model's (%s): a label indexes the class names, so evaluation needs the model's list"
                    data.Name
                    (names data.ClassNames)
                    (names model.ClassNames))

        let input = prepared model data

        withNetwork model 256 (fun network ->
            let struct (loss, accuracy) = Evaluation.Evaluate(network, labeled input)
            loss, accuracy)
