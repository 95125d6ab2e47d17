namespace Hybrid

open MathNet.Numerics.Distributions

/// Repeated measurements of one figure (one configuration over several seeds).
type Summary = {
    Mean: float
    /// Sample standard deviation (divides by N − 1); 0 when N = 1.
    StdDev: float
    N: int
    /// Half-width of the 95% confidence interval of the mean (Student t, N − 1 degrees of
    /// freedom); None when N = 1, where no interval exists.
    HalfWidth: float option
}

[<RequireQualifiedAccess>]
module Statistics =

    /// The p-quantile of Student's t distribution with `dof` degrees of freedom.
    let tQuantile (p: float) (dof: float) = StudentT.InvCDF(0.0, 1.0, dof, p)

    let private meanAndVariance (values: float list) =
        let n = float values.Length
        let mean = List.sum values / n

        let variance =
            if values.Length < 2 then
                0.0
            else
                (values |> List.sumBy (fun x -> (x - mean) * (x - mean))) / (n - 1.0)

        mean, variance

    /// Mean, sample standard deviation and 95% confidence interval of at least one value.
    let summarize (values: float list) : Summary =
        if values.IsEmpty then
            invalidArg (nameof values) "a summary needs at least one value"

        let mean, variance = meanAndVariance values
        let n = values.Length
        let stdDev = sqrt variance

        {
            Mean = mean
            StdDev = stdDev
            N = n
            HalfWidth =
                if n < 2 then
                    None
                else
                    Some(tQuantile 0.975 (float (n - 1)) * stdDev / sqrt (float n))
        }

    /// Two-sided p-value of Welch's t-test (unequal variances) that the two samples have the same
    /// mean; each sample needs at least two values. Two samples without spread give 1 when their
    /// means are equal and 0 otherwise.
    let welch (a: float list) (b: float list) : float =
        if a.Length < 2 || b.Length < 2 then
            invalidArg
                (nameof a)
                (sprintf "Welch's t-test needs at least two values per sample, found %d and %d" a.Length b.Length)

        let meanA, varianceA = meanAndVariance a
        let meanB, varianceB = meanAndVariance b
        let shareA, shareB = varianceA / float a.Length, varianceB / float b.Length
        let standardError2 = shareA + shareB

        if standardError2 = 0.0 then
            if meanA = meanB then 1.0 else 0.0
        else
            let t = (meanA - meanB) / sqrt standardError2
            // Welch–Satterthwaite degrees of freedom.
            let dof =
                standardError2 * standardError2
                / (shareA * shareA / float (a.Length - 1) + shareB * shareB / float (b.Length - 1))

            2.0 * StudentT.CDF(0.0, 1.0, dof, -abs t)

    /// Holm–Bonferroni adjusted p-values, in the order given: the i-th smallest of m p-values is
    /// multiplied by m − i + 1, capped at 1, and made non-decreasing in that order. Rejecting every
    /// hypothesis whose adjusted p-value is below α keeps the family-wise error rate at α.
    let holm (pValues: float list) : float list =
        let m = pValues.Length
        let ascending = pValues |> List.indexed |> List.sortBy snd

        let adjusted =
            ascending
            |> List.mapi (fun rank (index, p) -> index, min 1.0 (float (m - rank) * p))
            |> List.scan (fun (_, running) (index, p) -> index, max running p) (-1, 0.0)
            |> List.tail

        adjusted |> List.sortBy fst |> List.map snd
