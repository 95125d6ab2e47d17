using Hybrid.Engine.Model;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>
/// Synthetic classification data: class k is a Gaussian blob of unit variance around
/// <c>Separation · e_k</c> (the k-th axis), in D dimensions, with class k drawn uniformly.
/// </summary>
internal static class Blobs
{
    public const int D = 4;
    public const int Classes = 3;

    /// <param name="noisyLabels">the fraction of rows whose label is replaced by a uniformly drawn class</param>
    public static LabeledData Draw(int rows, ulong seed, double separation = 4.0, double noisyLabels = 0.0, double scale = 1.0)
    {
        var rng = new Rng(seed);
        var features = new float[rows * D];
        var labels = new int[rows];
        for (var r = 0; r < rows; r++)
        {
            var k = rng.NextInt(Classes);
            for (var j = 0; j < D; j++)
                features[r * D + j] = (float)(scale * ((j == k ? separation : 0.0) + rng.NextGaussian()));
            labels[r] = rng.NextDouble() < noisyLabels ? rng.NextInt(Classes) : k;
        }
        return new LabeledData(features, labels, D);
    }
}
