{#-
  exact_sum(expr): the sum of a DOUBLE expression that does not depend on the order the engine adds the rows in,
  so a year rebuilt alone gives the same doubles as a full build (DuckDB adds doubles in parallel, in whatever
  order its threads meet the rows).

  Each term t is split exactly into two fixed-point integers, hi = floor(t * 2^20) and lo = floor((t - hi / 2^20)
  * 2^80), summed as HUGEINT (integer addition is associative), and recombined once: hi_sum / 2^20 + lo_sum / 2^80.
  The split is exact for |t| >= 2^-28 (every bit of t lies between 2^107 and 2^-80); a smaller term loses only the
  bits below 2^-80 (about 1e-24). A term of 2^107 (1.6e32) or more raises an out-of-range error instead of a wrong
  sum. NULL terms are ignored, as by sum(); the sum of no rows (or only NULLs) is NULL.

  Cost: two integer sums, about 1.4x a plain sum(); `sum(x order by k)`, which also fixes the order, costs about 8x
  (benchmarks/README.md).

  over: a window (`over='w'` with `window w as (...)`, or `over='(partition by ...)'`) makes it a window aggregate.
  filter: a condition (`filter='not flagged'`): the sum over the rows that meet it (an aggregate FILTER clause), the
  same double as the sum over those rows alone, so one pass can give several sums over different rows.
-#}
{% macro exact_sum(expr, over=none, filter=none) -%}
{%- set window = (' filter (where ' ~ filter ~ ')' if filter else '') ~ (' over ' ~ over if over else '') -%}
(cast(sum(cast(floor(({{ expr }}) * 1048576.0) as hugeint)){{ window }} as double) / 1048576.0
     + cast(sum(cast(floor((({{ expr }}) - floor(({{ expr }}) * 1048576.0) / 1048576.0) * 1208925819614629174706176.0) as hugeint)){{ window }} as double)
       / 1208925819614629174706176.0)
{%- endmacro %}
