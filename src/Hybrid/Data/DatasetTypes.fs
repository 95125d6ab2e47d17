namespace Hybrid

/// A classification data set. Features are row-major, Rows × Columns, in one flat array because
/// that is the layout the engine consumes; Labels[i] indexes ClassNames.
type Dataset = {
    Name: string
    Features: float32[]
    Rows: int
    Columns: int
    Labels: int[]
    ClassNames: string[]
    FeatureNames: string[]
}

/// The three parts of a stratified split.
type Split = { Train: Dataset; Validation: Dataset; Test: Dataset }

/// One fold of k-fold cross-validation: the fold is the validation part, the other folds train.
type Fold = { Train: Dataset; Validation: Dataset }

/// The share of every class that goes to each part of a split; the shares sum to 1. Declared after
/// Split and Fold so that `{ Train = 0.7; Validation = 0.15; Test = 0.15 }` is inferred as Fractions.
type Fractions = { Train: float; Validation: float; Test: float }
