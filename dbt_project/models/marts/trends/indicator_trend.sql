{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='year', on_schema_change='fail') }}
-- Trends (spec §5) per county, level, method and indicator over the years, and for the 2012 method the composite
-- (indicator 'composite'). Official and clean ("without the school parts whose inputs carry a warning flag") county
-- value and CV, and two different numbers, each labelled as what it is:
--   * the last change (最近一年变化): difference to the previous year with data / years between, of the official CV,
--     of the clean CV and of the official county value;
--   * the trend (年均变化): the Theil–Sen slope (median of the pairwise slopes) of the clean CV over the last five years
--     with data up to and including the row's year (at least three), so that one implausible submission does not
--     drive it. Projected crossing year: the line through the median point (median year, median clean CV) with that
--     slope; the first whole year after the row's year in which it is at or below the threshold; NULL when the line
--     does not descend, or the latest clean CV of the window is already within the threshold.
-- projection_status says which case the row is in, so a page never has to re-derive it.
-- A row of year Y reads the years up to Y only, so a load of years A..B rebuilds the rows of A and later (computed
-- over every year, written from A on: macros/per_year.sql from_window_start); the earlier rows cannot change.

with series as (
    select county_code, level, method, indicator, year, county_value, cv, county_value_clean, cv_clean, cv_threshold,
           flagged_schools
    from {{ ref('county_indicator_cv') }}
    union all
    select county_code, level, 'basic', 'composite', year, cast(null as double), composite_cv, cast(null as double),
           composite_cv_clean, composite_threshold, cast(null as integer)
    from {{ ref('county_balance') }}
),

-- One pass over each series in year order (one window): the last changes (to the previous year with data of the same
-- column: lag ignoring nulls) and the clean points up to the row's year, as two lists in year order.
changes as (
    select
        s.*,
        {%- for col, name in [('cv', 'cv_last_change'), ('cv_clean', 'cv_clean_last_change'),
                              ('county_value', 'value_last_change')] %}
        case when {{ col }} is not null then ({{ col }} - lag({{ col }} ignore nulls) over w)
            / (year - lag(case when {{ col }} is not null then year end ignore nulls) over w) end as {{ name }},
        {%- endfor %}
        list(year) filter (where cv_clean is not null) over w as clean_years,
        list(cv_clean) filter (where cv_clean is not null) over w as clean_cvs
    from series s
    window w as (partition by county_code, level, method, indicator order by year)
),

-- the last five clean points up to and including the row's year
windowed as (
    select
        * exclude (clean_years, clean_cvs),
        list_slice(clean_years, greatest(len(clean_years) - 4, 1), len(clean_years)) as ys,
        list_slice(clean_cvs, greatest(len(clean_cvs) - 4, 1), len(clean_cvs)) as cs
    from changes
),

-- the Theil-Sen slope: the median of the slopes of every pair of the points, earlier to later
joined as (
    select
        * exclude (ys, cs),
        nullif(len(ys), 0) as trend_points,
        ys[1] as trend_first_year,
        list_median(list_transform(ys, lambda y: cast(y as double))) as median_year,
        list_median(cs) as median_cv,
        cs[len(cs)] as latest_clean_cv,
        case when len(ys) >= 3 then list_median(flatten(list_transform(range(1, len(ys) + 1), lambda i:
            list_transform(range(i + 1, len(ys) + 1), lambda j: (cs[j] - cs[i]) / (ys[j] - ys[i])))))
        end as trend_slope
    from windowed
),

projected as (
    select
        *,
        case
            when cv_threshold is null then 'no_threshold'
            when cv <= cv_threshold then 'met'
            when latest_clean_cv <= cv_threshold then 'met_clean'
            when coalesce(trend_points, 0) < 3 then 'too_few_years'
            when trend_slope >= 0 then 'not_descending'
            else 'projected'
        end as projection_status
    from joined
)

select
    cast(county_code as varchar) as county_code,
    cast(level as varchar) as level,
    cast(method as varchar) as method,
    cast(indicator as varchar) as indicator,
    cast(year as integer) as year,
    cast(county_value as double) as county_value,
    cast(cv as double) as cv,
    cast(county_value_clean as double) as county_value_clean,
    cast(cv_clean as double) as cv_clean,
    cast(flagged_schools as integer) as flagged_schools,
    cast(value_last_change as double) as value_last_change,
    cast(cv_last_change as double) as cv_last_change,
    cast(cv_clean_last_change as double) as cv_clean_last_change,
    cast(cv_threshold as double) as cv_threshold,
    cast(cv <= cv_threshold as boolean) as meets_cv,
    cast(cv_clean <= cv_threshold as boolean) as meets_cv_clean,
    cast(coalesce(trend_points, 0) as integer) as trend_points,
    cast(trend_first_year as integer) as trend_first_year,
    cast(trend_slope as double) as trend_slope,
    cast(case when trend_slope is not null then median_year end as double) as trend_median_year,
    cast(case when trend_slope is not null then median_cv end as double) as trend_median_cv,
    cast(case when projection_status = 'projected' then
        greatest(ceil(round(median_year + (cv_threshold - median_cv) / trend_slope, 9)), year + 1)
    end as integer) as projected_year,
    cast(projection_status as varchar) as projection_status
from projected
where {{ from_window_start('year') }}
