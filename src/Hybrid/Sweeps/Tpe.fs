namespace Hybrid

open System
open MathNet.Numerics
open Hybrid.Engine.Model

/// The tree-structured Parzen estimator (Bergstra et al. 2011) as Optuna's TPESampler builds it, one
/// dimension at a time. Points live in [0, 1)^d, the positions `Domain.at` maps to values, so integer
/// and log ranges are modelled in their transformed space (each integer an equal share, each decade
/// an equal share) and a choice is a category.
[<RequireQualifiedAccess>]
module Tpe =

    /// Optuna's defaults: 10 random start-up configurations, 24 candidates, the best 10% good, prior weight 1.
    let defaults = { Startup = 10; Candidates = 24; Gamma = 0.1; PriorWeight = 1.0 }

    let check (options: TpeOptions) =
        if
            options.Startup < 1
            || options.Candidates < 1
            || not (options.Gamma > 0.0 && options.Gamma <= 1.0)
            || not (options.PriorWeight > 0.0)
        then
            invalidArg
                (nameof options)
                (sprintf
                    "TPE: expected Startup ≥ 1, Candidates ≥ 1, Gamma in (0, 1] and PriorWeight > 0, found %A"
                    options)

    /// How many of `n` observations ranked best first count as good: ⌈γ·n⌉, at least 1 and at most 25.
    let goodCount (options: TpeOptions) (n: int) = max 1 (min 25 (int (ceil (options.Gamma * float n))))

    /// A density over one dimension that can be sampled and evaluated.
    type private Estimator = { Sample: Rng -> float; LogDensity: float -> float }

    let private normalCdf (z: float) = 0.5 * SpecialFunctions.Erfc(-z / sqrt 2.0)

    /// A mixture of Gaussians truncated to [0, 1]: one per observation (weight 1) and a prior (mean ½,
    /// width 1, weight PriorWeight). Each observation's width is the larger gap to its neighbours
    /// (the ends of the domain included), clipped to [1 / min(100, 1 + components), 1].
    let private numeric (priorWeight: float) (observed: float[]) : Estimator =
        let mus = Array.append observed [| 0.5 |]
        let weights = Array.append (Array.create observed.Length 1.0) [| priorWeight |]
        let total = Array.sum weights
        let order = Array.init mus.Length id |> Array.sortBy (fun i -> mus[i], i)
        let minSigma = 1.0 / min 100.0 (1.0 + float mus.Length)
        let sigmas = Array.zeroCreate mus.Length

        order
        |> Array.iteri (fun rank i ->
            let left = if rank = 0 then mus[i] else mus[i] - mus[order[rank - 1]]

            let right =
                if rank = order.Length - 1 then 1.0 - mus[i] else mus[order[rank + 1]] - mus[i]

            sigmas[i] <- if i = mus.Length - 1 then 1.0 else max left right |> max minSigma |> min 1.0)

        let mass =
            Array.init mus.Length (fun i -> normalCdf ((1.0 - mus[i]) / sigmas[i]) - normalCdf (-mus[i] / sigmas[i]))

        let pick (rng: Rng) =
            let u = rng.NextDouble() * total

            let rec find i acc =
                if i = weights.Length - 1 || u < acc + weights[i] then
                    i
                else
                    find (i + 1) (acc + weights[i])

            find 0 0.0
        // Rejection from the chosen component; its mean lies in [0, 1], so at least about half its draws land inside.
        let rec draw (rng: Rng) i attempts =
            let x = mus[i] + sigmas[i] * rng.NextGaussian()

            if x >= 0.0 && x < 1.0 then x
            elif attempts = 0 then Math.Clamp(x, 0.0, Math.BitDecrement 1.0)
            else draw rng i (attempts - 1)

        {
            Sample = fun rng -> draw rng (pick rng) 100
            LogDensity =
                fun x ->
                    let density =
                        Array.init mus.Length (fun i ->
                            let z = (x - mus[i]) / sigmas[i]

                            weights[i] / total * exp (-0.5 * z * z)
                            / (sqrt (2.0 * Math.PI) * sigmas[i] * mass[i]))
                        |> Array.sum

                    log density
        }

    /// Category probabilities ∝ PriorWeight / k + the count of observations in the category; a
    /// category is sampled as the middle of its share of [0, 1).
    let private categorical (priorWeight: float) (k: int) (observed: float[]) : Estimator =
        let category (u: float) = min (k - 1) (int (u * float k))
        let counts = Array.create k (priorWeight / float k)
        observed |> Array.iter (fun u -> counts[category u] <- counts[category u] + 1.0)
        let total = Array.sum counts

        {
            Sample =
                fun rng ->
                    let u = rng.NextDouble() * total

                    let rec find c acc = if c = k - 1 || u < acc + counts[c] then c else find (c + 1) (acc + counts[c])

                    (float (find 0 0.0) + 0.5) / float k
            LogDensity = fun u -> log (counts[category u] / total)
        }

    let private estimator (options: TpeOptions) (domain: Domain) (observed: float[]) =
        match domain with
        | Choice values -> categorical options.PriorWeight values.Length observed
        | IntRange _
        | FloatRange _
        | LogRange _ -> numeric options.PriorWeight observed

    /// One point proposed from `ranked`, the observed points best first: per dimension, `Candidates`
    /// draws from the good points' estimator l, keeping the one with the highest log l − log g (g the
    /// bad points' estimator; the first draw on ties).
    let propose (options: TpeOptions) (space: Space) (ranked: float[] list) (rng: Rng) : float[] =
        let good, bad = List.splitAt (goodCount options ranked.Length) ranked

        space
        |> List.mapi (fun d (_, domain) ->
            let l = estimator options domain (good |> List.map (fun p -> p[d]) |> Array.ofList)
            let g = estimator options domain (bad |> List.map (fun p -> p[d]) |> Array.ofList)

            List.init options.Candidates (fun _ -> l.Sample rng)
            |> List.maxBy (fun x -> l.LogDensity x - g.LogDensity x))
        |> Array.ofList
