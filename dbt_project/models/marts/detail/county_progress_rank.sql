{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail', tags=['per_year']) }}
-- Ranking counties by progress (spec §5) per year: first by the number of 2017 scorecard items met (all four
-- parts; Q1-Q7 count once per level), then by the mean over the seven resource indicators and both levels of
-- CV / threshold (lower is better). Ranked among all counties of the year and within the province.

with items as (
    select county_code, year,
           count(*) filter (where status = 'met') as items_met,
           count(*) as items_total
    from {{ ref('quality_scorecard') }}
    where {{ year_filter() }}
    group by county_code, year
),

ratios as (
    -- an ordered mean, so a year rebuilt alone gives the same doubles as a full build
    select county_code, year, sum(cv / cv_threshold order by level, indicator) / count(cv) as mean_cv_ratio
    from {{ ref('county_indicator_cv') }}
    where method = 'quality' and cv_threshold > 0 and {{ year_filter() }}
    group by county_code, year
)

select
    cast(i.county_code as varchar) as county_code,
    cast(i.year as integer) as year,
    cast(i.items_met as integer) as items_met,
    cast(i.items_total as integer) as items_total,
    cast(r.mean_cv_ratio as double) as mean_cv_ratio,
    cast(rank() over (partition by i.year order by i.items_met desc, r.mean_cv_ratio asc nulls last) as integer) as progress_rank,
    cast(rank() over (partition by i.year, left(i.county_code, 2)
                      order by i.items_met desc, r.mean_cv_ratio asc nulls last) as integer) as province_rank
from items i
left join ratios r using (county_code, year)
