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

with series as (
    select county_code, level, method, indicator, year, county_value, cv, county_value_clean, cv_clean, cv_threshold,
           flagged_schools
    from {{ ref('county_indicator_cv') }}
    union all
    select county_code, level, 'basic', 'composite', year, cast(null as double), composite_cv, cast(null as double),
           composite_cv_clean, composite_threshold, cast(null as integer)
    from {{ ref('county_balance') }}
),

cv_change as (
    select county_code, level, method, indicator, year,
           (cv - lag(cv) over w) / (year - lag(year) over w) as cv_last_change
    from series where cv is not null
    window w as (partition by county_code, level, method, indicator order by year)
),

clean_change as (
    select county_code, level, method, indicator, year,
           (cv_clean - lag(cv_clean) over w) / (year - lag(year) over w) as cv_clean_last_change
    from series where cv_clean is not null
    window w as (partition by county_code, level, method, indicator order by year)
),

value_change as (
    select county_code, level, method, indicator, year,
           (county_value - lag(county_value) over w) / (year - lag(year) over w) as value_last_change
    from series where county_value is not null
    window w as (partition by county_code, level, method, indicator order by year)
),

clean_points as (
    select county_code, level, method, indicator, year, cv_clean
    from series where cv_clean is not null
),

-- for each row (anchor year), the last five clean points up to and including it
win as (
    select s.county_code, s.level, s.method, s.indicator, s.year as anchor, p.year as point_year, p.cv_clean as point_cv
    from series s
    join clean_points p
        on p.county_code = s.county_code and p.level = s.level and p.method = s.method
        and p.indicator = s.indicator and p.year <= s.year
    qualify row_number() over (
        partition by s.county_code, s.level, s.method, s.indicator, s.year order by p.year desc) <= 5
),

fit_points as (
    select county_code, level, method, indicator, anchor,
           count(*) as trend_points,
           min(point_year) as trend_first_year,
           median(cast(point_year as double)) as median_year,
           median(point_cv) as median_cv,
           arg_max(point_cv, point_year) as latest_clean_cv
    from win
    group by county_code, level, method, indicator, anchor
),

fit_slope as (
    select a.county_code, a.level, a.method, a.indicator, a.anchor,
           median((b.point_cv - a.point_cv) / (b.point_year - a.point_year)) as slope
    from win a
    join win b
        on b.county_code = a.county_code and b.level = a.level and b.method = a.method
        and b.indicator = a.indicator and b.anchor = a.anchor and b.point_year > a.point_year
    group by a.county_code, a.level, a.method, a.indicator, a.anchor
),

fit as (
    select
        p.county_code, p.level, p.method, p.indicator, p.anchor as year,
        p.trend_points, p.trend_first_year, p.median_year, p.median_cv, p.latest_clean_cv,
        case when p.trend_points >= 3 then s.slope end as trend_slope
    from fit_points p
    left join fit_slope s using (county_code, level, method, indicator, anchor)
),

joined as (
    select
        s.*,
        v.value_last_change, c.cv_last_change, cc.cv_clean_last_change,
        f.trend_points, f.trend_first_year, f.median_year, f.median_cv, f.latest_clean_cv, f.trend_slope
    from series s
    left join cv_change c using (county_code, level, method, indicator, year)
    left join clean_change cc using (county_code, level, method, indicator, year)
    left join value_change v using (county_code, level, method, indicator, year)
    left join fit f using (county_code, level, method, indicator, year)
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
