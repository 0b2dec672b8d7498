using ClDiffusion.Cli.Commands;
using CommandLine;

namespace ClDiffusion.Cli;

/// <summary>
/// cldiff: sample, evaluate, benchmark and inspect devices. Every failure prints one line naming the problem
/// to stderr and exits non-zero; outputs are written atomically, so a failed run never leaves a partial file.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // the library never writes to the console; the CLI shows its notices (e.g. auto fell back to the CPU backend)
        ClDiffusion.Backends.BackendFactory.Log = m => Console.Error.WriteLine(m);
        var parser = new Parser(s => { s.HelpWriter = Console.Error; s.CaseInsensitiveEnumValues = true; s.AutoVersion = true; });
        // CommandLineParser rejects one-letter long names, but the documented spelling is --n COUNT.
        args = args.Select(a => a == "--n" ? "--count" : a.StartsWith("--n=") ? "--count=" + a[4..] : a).ToArray();
        try
        {
            return parser.ParseArguments<SampleOptions, EvalOptions, DevicesOptions, BenchOptions, ExperimentOptions, TrainOptions, ScoreOptions, CheckOptions, DemoOptions, SelfTestOptions, MergeOptions, TuneOptions, MlpBenchOptions, ScalingOptions>(args).MapResult(
                (SampleOptions o) => SampleCommand.Run(o),
                (EvalOptions o) => EvalCommand.Run(o),
                (DevicesOptions o) => DevicesCommand.Run(o.Json),
                (BenchOptions o) => BenchCommand.Run(o),
                (ExperimentOptions o) => ExperimentCommand.Run(o),
                (TrainOptions o) => o.Run(),
                (ScoreOptions o) => o.Run(),
                (CheckOptions o) => o.Run(),
                (DemoOptions o) => DemoCommand.Run(o),
                (SelfTestOptions o) => SelfTestCommand.Run(o),
                (MergeOptions o) => MergeCommand.Run(o),
                (MlpBenchOptions o) => MlpBenchCommand.Run(o),
                (TuneOptions o) => TuneCommand.Run(o),
                (ScalingOptions o) => ScalingCommand.Run(o),
                errs => errs.Any(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError) ? 0 : 2);
        }
        catch (OperationCanceledException) { Console.Error.WriteLine("cldiff: cancelled"); return 130; }
        catch (Exception e) when (e is ClDiffusion.Backends.OpenCL.OpenClException or ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or IOException or NotSupportedException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"cldiff: error: {e.Message}");
            return 1;
        }
    }
}
