{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Ranking counties by progress (spec §5) per year: first by the overall 2017 verdict (met, then incomplete, then
-- not met), then by the number of 2017 items met (all 41: Q1-Q7 and QS per level, G01-G15, E01-E09, S01), then by
-- the mean over the seven resource indicators and both levels of CV / threshold (lower is better). Ranked among
-- all counties of the year and within the province. The verdict and the item counts are quality_verdict's.

with verdicts as (
    select county_code, year, verdict, items_met, items_total,
           case verdict when 'met' then 1 when 'incomplete' then 2 else 3 end as verdict_order
    from {{ ref('quality_verdict') }}
    where {{ year_filter() }}
),

ratios as (
    -- an ordered mean, so a year rebuilt alone gives the same doubles as a full build
    select county_code, year, sum(cv / cv_threshold order by level, indicator) / count(cv) as mean_cv_ratio
    from {{ ref('county_indicator_cv') }}
    where method = 'quality' and cv_threshold > 0 and {{ year_filter() }}
    group by county_code, year
)

select
    cast(v.county_code as varchar) as county_code,
    cast(v.year as integer) as year,
    cast(left(v.county_code, 2) as varchar) as province_code,
    cast(v.verdict as varchar) as verdict,
    cast(v.verdict_order as integer) as verdict_order,
    cast(v.items_met as integer) as items_met,
    cast(v.items_total as integer) as items_total,
    cast(r.mean_cv_ratio as double) as mean_cv_ratio,
    cast(rank() over (partition by v.year
                      order by v.verdict_order, v.items_met desc, r.mean_cv_ratio asc nulls last) as integer) as progress_rank,
    cast(rank() over (partition by v.year, left(v.county_code, 2)
                      order by v.verdict_order, v.items_met desc, r.mean_cv_ratio asc nulls last) as integer) as province_rank
from verdicts v
left join ratios r using (county_code, year)
