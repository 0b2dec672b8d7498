#:project cldiff/cldiff.csproj
#:property Configuration=Release
// The image metric's Frechet distance (classifier features, docs/IMAGES.md) between sample sets instead of against the
// test images: each of A.npy, B.npy, ... against REF.npy (all [n, 784] in data space, a full pixel = 255). With REF the
// probability-flow ODE's own solution (tools/fashion-solver-error.sh), it measures how far a solver's distribution is
// from the ODE's, which the distance to the test images cannot: some solver errors lower that one.
// Run from the repository root:  dotnet run tools/fashion_frechet_between.cs -- REF.npy A.npy [B.npy ...]
// Prints one line per file: its path and the distance.
using ClDiffusion.IO;
using ClDiffusion.Metrics;
using ClDiffusion.Onnx;

if (args.Length < 2) { Console.Error.WriteLine("usage: fashion_frechet_between.cs REF.npy A.npy [B.npy ...]"); return 2; }
using var classifier = OnnxClassifier.Load(ClDiffusion.Cli.Commands.ImageEvalCommand.ResolveClassifier(null));
ClassifiedImages Features(string path)
{
    var a = Npy.Read(path);
    if (a.Shape.Length != 2 || a.Shape[1] != classifier.InputDim) throw new InvalidDataException($"{path}: shape [{string.Join(", ", a.Shape)}], expected [n, {classifier.InputDim}]");
    int rows = a.Shape[0];
    return classifier.Classify(ImagePixels.ToClassifierInput(a.ToFloat32(), rows, classifier.InputDim, ImagePixels.ByteMax, path), rows);
}
var reference = Features(args[0]);
foreach (var path in args.Skip(1))
{
    var f = Features(path);
    Console.WriteLine($"{path} {SampleStats.FrechetDistance(f.Features, f.Rows, reference.Features, reference.Rows, f.FeatureDim):F4}");
}
return 0;
