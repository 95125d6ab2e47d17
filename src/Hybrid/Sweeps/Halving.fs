namespace Hybrid

open System

/// Successive halving and Hyperband as plain arithmetic: where a batch's rungs are, how many
/// configurations a batch gets, and who goes on after a rung.
[<RequireQualifiedAccess>]
module Halving =

    let private check (maxEpochs: int) (minEpochs: int) (eta: int) =
        if eta < 2 || minEpochs < 1 || minEpochs > maxEpochs then
            invalidArg
                (nameof minEpochs)
                (sprintf
                    "pruning: expected η ≥ 2 and 1 ≤ minimum epochs ≤ the settings' %d epochs, found η = %d, minimum epochs = %d"
                    maxEpochs
                    eta
                    minEpochs)

    /// s = ⌊log_η(maxEpochs / minEpochs)⌋: the most rungs below the end whose first is still at least minEpochs.
    let private deepest (maxEpochs: int) (minEpochs: int) (eta: int) =
        check maxEpochs minEpochs eta

        let rec go s =
            if int64 minEpochs * pown (int64 eta) (s + 1) <= int64 maxEpochs then
                go (s + 1)
            else
                s

        go 0

    /// A bracket's rungs in epochs: round(maxEpochs · η^(k − s)) for k = 0 … s, the last at maxEpochs.
    let rungs (maxEpochs: int) (eta: int) (s: int) : int list =
        [
            for k in 0..s ->
                int (Math.Round(float maxEpochs * Math.Pow(float eta, float (k - s)), MidpointRounding.AwayFromZero))
        ]
        |> List.distinct

    /// A batch's rungs and its number of configurations under a pruning rule.
    let ofBatch (pruning: Pruning) (maxEpochs: int) (batchSize: int) (batch: int) : int list * int =
        match pruning with
        | Pruning.Off -> [ maxEpochs ], batchSize
        | Pruning.Halving(minEpochs, eta) -> rungs maxEpochs eta (deepest maxEpochs minEpochs eta), batchSize
        | Pruning.Hyperband(minEpochs, eta) ->
            let top = deepest maxEpochs minEpochs eta
            let s = top - batch % (top + 1)
            // Hyperband's n = ⌈(s_max + 1) / (s + 1) · η^s⌉, scaled so the most aggressive bracket gets batchSize
            let size =
                float batchSize * float (top + 1) / float (s + 1)
                * Math.Pow(float eta, float (s - top))

            rungs maxEpochs eta s, max 1 (int (ceil (size - 1e-9)))

    /// How many of `n` configurations go on after a rung: the best ⌊n / η⌋, at least one.
    let survivors (pruning: Pruning) (n: int) =
        match pruning with
        | Pruning.Off -> n
        | Pruning.Halving(_, eta)
        | Pruning.Hyperband(_, eta) -> max 1 (n / eta)
