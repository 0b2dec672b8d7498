#:project ../../src/ClDiffusion.Onnx/ClDiffusion.Onnx.csproj
#:property Configuration=Release
// Measures the Fashion-MNIST U-Net (models/fashion-unet.onnx, tools/fashion/train_unet.py) with the Fashion-MNIST
// classifier (models/fashion-classifier.onnx, tools/fashion/train_classifier.py): class accuracy of guided samples and
// the Frechet distance in the classifier's 64 penultimate features against the 10,000 test images, per sampler and
// NFE, beside the seconds per sample and ONNX Runtime's share of them (docs/EXPERIMENTS.md). Run from the repository
// root (the machine it ran on is named in the docs; CPU backend, ONNX Runtime's CPU provider):
//   dotnet run -c Release tools/fashion/eval_unet.cs -- compare UNET CLASSIFIER SAMPLERS NFES N GUIDANCE SEED [THREADS]
//     e.g. compare models/fashion-unet.onnx models/fashion-classifier.onnx rm-x0,dpmpp-2m,dpmpp-3m,unipc,ei 5,10,20 200 2 1
//     N samples per run, labels in equal blocks of the ten classes (sample i has class i * 10 / N); prints one CSV row
//     per (sampler, NFE), plus the floor: the distance of N training images to the test images.
//   dotnet run -c Release tools/fashion/eval_unet.cs -- npy CLASSIFIER SAMPLES.npy:CLASS [...]
//     the share of each `cldiff sample --model fashion-unet --class CLASS` output that the classifier labels CLASS,
//     and their mean (tools/fashion/check_unet.sh runs the issue's check over the ten classes).
// The U-Net's pixels are x = byte / 127.5 - 1; the classifier reads byte / 255, so a sample is shown to it as
// clamp((x + 1) / 2, 0, 1).
using System.IO.Compression;
using ClDiffusion.Backends.Cpu;
using ClDiffusion.IO;
using ClDiffusion.Metrics;
using ClDiffusion.Models;
using ClDiffusion.Onnx;
using ClDiffusion.Samplers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

const string Data = "/usr/share/datasets/fashion-mnist";
const int D = 784, F = 64, K = 10;

if (args.Length < 1) throw new ArgumentException("usage: compare ... | npy ... (see the comment at the top of tools/fashion/eval_unet.cs)");
if (args[0] == "npy")
{
    using var cls = Classifier(args[1]);
    int total = 0, right = 0;
    double sum = 0;
    foreach (var spec in args[2..])
    {
        int colon = spec.LastIndexOf(':');
        string file = spec[..colon];
        int c = int.Parse(spec[(colon + 1)..]);
        var x = Npy.Read(file).ToFloat32();
        int n = x.Length / D;
        var (pred, _) = Classify(cls, x, n, fromUnet: true);
        int k = pred.Count(p => p == c);
        Console.WriteLine($"{file}: {k}/{n} = {100.0 * k / n:0.0}% labelled {c}");
        total += n; right += k; sum += (double)k / n;
    }
    Console.WriteLine($"mean over the {args.Length - 2} files: {100 * sum / (args.Length - 2):0.0}% ({right}/{total})");
    return;
}
if (args[0] != "compare") throw new ArgumentException($"unknown mode '{args[0]}': compare or npy");
string unetPath = args[1], clsPath = args[2];
var samplers = args[3].Split(','); var nfes = args[4].Split(',').Select(int.Parse).ToArray();
int N = int.Parse(args[5]); double w = double.Parse(args[6], System.Globalization.CultureInfo.InvariantCulture); ulong seed = ulong.Parse(args[7]);
int threads = args.Length > 8 ? int.Parse(args[8]) : 0;

using var classifier = Classifier(clsPath);
var (testX, _) = Load("t10k");
var (_, testFeat) = Classify(classifier, testX, testX.Length / D, fromUnet: false);
int nTest = testX.Length / D;
var (trainX, trainY) = Load("train");
// the floor: N training images (the first N of a fixed shuffle) against the test images
var rng = new System.Random(7);
var pick = Enumerable.Range(0, trainY.Length).OrderBy(_ => rng.Next()).Take(N).ToArray();
var floorX = new float[N * D];
for (int i = 0; i < N; i++) Array.Copy(trainX, pick[i] * D, floorX, i * D, D);
var (_, floorFeat) = Classify(classifier, floorX, N, fromUnet: false);
double floorFd = SampleStats.FrechetDistance(floorFeat, N, testFeat, nTest, F);
Console.WriteLine($"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Trim()}");
Console.WriteLine($"# floor: FD of {N} training images to the {nTest} test images = {floorFd:0.###}");
Console.WriteLine("sampler,nfe,n,guidance,fd,accuracy,seconds,seconds_per_sample,onnx_seconds,onnx_share");

using var unet = OnnxScoreModel.Load(unetPath, threads: threads);
if (unet.NumClasses != K) throw new ArgumentException($"{unetPath}: {unet.NumClasses} classes, expected {K}");
var labels = ClassLabels.Blocks(K, 0, N);
using var cpu = new CpuBackend();
foreach (var s in samplers)
    foreach (var nfe in nfes)
    {
        var o = new SamplerOptions { Steps = nfe, Labels = labels, Guidance = w }.ForModel(unet.Model);
        unet.Model.ResetCounters();
        var (x, st) = SampleRun.Run(cpu, unet.Model, s, o, seed, N);
        var (pred, feat) = Classify(classifier, x, N, fromUnet: true);
        int right = Enumerable.Range(0, N).Count(i => pred[i] == labels.Of(i));
        double fd = SampleStats.FrechetDistance(feat, N, testFeat, nTest, F);
        double onnx = unet.Model.BusyTime.TotalSeconds;
        Console.WriteLine($"{s},{st.NfePerSample:0.##},{N},{w},{fd:0.###},{(double)right / N:0.###},{st.Seconds:0.#},{st.Seconds / N:0.###},{onnx:0.#},{onnx / st.Seconds:0.###}");
    }

static InferenceSession Classifier(string path)
{
    var s = new InferenceSession(path);
    var meta = s.ModelMetadata.CustomMetadataMap;
    if (!meta.TryGetValue("cldiffusion.input", out var input) || input != "pixel/255")
        throw new InvalidDataException($"{path}: expected a classifier reading pixel/255 (metadata cldiffusion.input), got '{input}'");
    return s;
}

/// <summary>The classifier's labels and 64 features for n images (U-Net scaling [-1, 1] or byte / 255 already).</summary>
static (int[] pred, float[] feat) Classify(InferenceSession s, float[] x, int n, bool fromUnet)
{
    var pred = new int[n]; var feat = new float[n * F];
    const int B = 500;
    for (int i0 = 0; i0 < n; i0 += B)
    {
        int m = Math.Min(B, n - i0);
        var input = new float[m * D];
        for (int i = 0; i < m * D; i++)
        {
            float v = x[i0 * D + i];
            input[i] = fromUnet ? Math.Clamp((v + 1) / 2, 0f, 1f) : v;
        }
        using var xv = OrtValue.CreateTensorValueFromMemory(input, [m, D]);
        using var ro = new RunOptions();
        using var outs = s.Run(ro, new Dictionary<string, OrtValue> { ["x"] = xv }, ["logits", "features"]);
        var logits = outs[0].GetTensorDataAsSpan<float>(); var f = outs[1].GetTensorDataAsSpan<float>();
        for (int r = 0; r < m; r++)
        {
            int best = 0;
            for (int c = 1; c < K; c++) if (logits[r * K + c] > logits[r * K + best]) best = c;
            pred[i0 + r] = best;
        }
        f.CopyTo(feat.AsSpan(i0 * F, m * F));
    }
    return (pred, feat);
}

/// <summary>A Fashion-MNIST split as byte / 255 and its labels.</summary>
static (float[] x, int[] y) Load(string split)
{
    static byte[] Read(string path, int header)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray()[header..];
    }
    var img = Read(Path.Combine(Data, $"{split}-images-idx3-ubyte.gz"), 16);
    var lab = Read(Path.Combine(Data, $"{split}-labels-idx1-ubyte.gz"), 8);
    if (img.Length != lab.Length * D) throw new InvalidDataException($"{split}: {img.Length} pixel bytes for {lab.Length} labels");
    return (img.Select(b => b / 255f).ToArray(), lab.Select(b => (int)b).ToArray());
}
