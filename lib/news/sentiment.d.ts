// Types for the `sentiment` package (it ships none): only what this project calls.
declare module 'sentiment' {
  interface AnalysisResult {
    score: number;
    comparative: number;
    tokens: string[];
    positive: string[];
    negative: string[];
  }
  class Sentiment {
    analyze(phrase: string, options?: { extras?: Record<string, number> }): AnalysisResult;
  }
  export = Sentiment;
}
